#include "schedule/cron.hpp"

#include <array>
#include <cctype>
#include <initializer_list>
#include <vector>

#include "util/strings.hpp"

namespace schedule {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

// How far next_local()/prev_local() look: 5 years (with a leap day or two).
constexpr int k_search_days = 5 * 366;

constexpr std::array<std::string_view, 12> k_month_names = {
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> k_weekday_names = {"sun", "mon", "tue", "wed",
                                                             "thu", "fri", "sat"};
constexpr std::array<std::string_view, 12> k_month_display = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};

struct FieldDef {
  std::string_view name;
  int min;
  int max;
  const std::string_view* names;  // names[i] is the value min_name + i
  int name_count;
  int first_named_value;
};

constexpr FieldDef k_fields[5] = {
    {"minute", 0, 59, nullptr, 0, 0},
    {"hour", 0, 23, nullptr, 0, 0},
    {"day-of-month", 1, 31, nullptr, 0, 0},
    {"month", 1, 12, k_month_names.data(), 12, 1},
    {"day-of-week", 0, 7, k_weekday_names.data(), 7, 0},
};

struct Macro {
  std::string_view name;
  std::string_view expansion;
};
constexpr Macro k_macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

// Concatenates message parts. (A helper rather than chained std::string operator+, which
// trips GCC 12's -Warray-bounds false positive at -O2.)
std::string cat(std::initializer_list<std::string_view> parts) {
  std::size_t size = 0;
  for (auto part : parts) size += part.size();
  std::string out;
  out.reserve(size);
  for (auto part : parts) out.append(part);
  return out;
}

std::string squote(std::string_view s) {
  return cat({"'", s, "'"});
}

// One value of a field: a number or (month, day-of-week) a name. Writes an error on failure.
std::optional<int> parse_value(const FieldDef& field, std::string_view token, std::string& error) {
  if (token.empty()) {
    error = cat({field.name, ": missing value"});
    return std::nullopt;
  }
  if (std::isdigit(static_cast<unsigned char>(token[0]))) {
    long value = 0;
    for (char c : token) {
      if (!std::isdigit(static_cast<unsigned char>(c))) {
        error = cat({field.name, ": ", squote(token), " is not a number"});
        return std::nullopt;
      }
      value = value * 10 + (c - '0');
      if (value > 100000) break;  // out of range anyway; avoid overflow
    }
    if (value < field.min || value > field.max) {
      const std::string shown = value > 100000 ? std::string(token) : std::to_string(value);
      error = cat({field.name, ": ", shown, " is out of range ", std::to_string(field.min), "-",
                   std::to_string(field.max)});
      return std::nullopt;
    }
    return static_cast<int>(value);
  }
  if (field.names != nullptr) {
    const std::string lower = util::to_lower(token);
    for (int i = 0; i < field.name_count; ++i) {
      if (lower == field.names[i]) return field.first_named_value + i;
    }
    error = cat({field.name, ": ", squote(token), " is not a ",
                 field.name == "month" ? "month name (JAN-DEC)" : "day name (SUN-SAT)",
                 " or a number"});
    return std::nullopt;
  }
  error = cat({field.name, ": ", squote(token), " is not a number"});
  return std::nullopt;
}

// Parses one field into `bits` (indexed by value). Returns an error message or "".
template <std::size_t N>
std::string parse_field(const FieldDef& field, std::string_view text, std::bitset<N>& bits) {
  if (text.empty()) return cat({field.name, ": empty field"});
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty()) {
      return cat({field.name, ": empty item in list ", squote(text)});
    }
    std::string_view range = item;
    int step = 1;
    bool has_step = false;
    if (const std::size_t slash = item.find('/'); slash != std::string_view::npos) {
      range = item.substr(0, slash);
      const std::string_view step_text = item.substr(slash + 1);
      has_step = true;
      const int max_step = field.max - field.min + 1;
      if (step_text.empty()) return cat({field.name, ": missing step after '/'"});
      long value = 0;
      for (char c : step_text) {
        if (!std::isdigit(static_cast<unsigned char>(c))) {
          return cat({field.name, ": step ", squote(step_text), " is not a number"});
        }
        value = value * 10 + (c - '0');
        if (value > 100000) break;
      }
      if (value < 1 || value > max_step) {
        const std::string shown = value > 100000 ? std::string(step_text) : std::to_string(value);
        return cat({field.name, ": step ", shown, " is out of range 1-", std::to_string(max_step)});
      }
      step = static_cast<int>(value);
    }
    int lo = 0;
    int hi = 0;
    if (range == "*") {
      lo = field.min;
      hi = field.max;
      if (field.name == "day-of-week") hi = 6;  // 7 is Sunday again
    } else {
      std::string error;
      const std::size_t dash = range.find('-');
      if (dash == std::string_view::npos) {
        const auto value = parse_value(field, range, error);
        if (!value) return error;
        lo = *value;
        // "5/15" means 5-max/15; a lone value without a step is just itself.
        hi = has_step ? (field.name == "day-of-week" ? 6 : field.max) : *value;
        if (hi < lo) hi = lo;
      } else {
        if (dash == 0 || dash + 1 == range.size()) {
          return cat({field.name, ": ", squote(range), " is not a valid range"});
        }
        const auto first = parse_value(field, range.substr(0, dash), error);
        if (!first) return error;
        const auto last = parse_value(field, range.substr(dash + 1), error);
        if (!last) return error;
        if (*last < *first) {
          return cat({field.name, ": range ", range,
                      " is reversed (the start must not be after the end)"});
        }
        lo = *first;
        hi = *last;
      }
    }
    for (int v = lo; v <= hi; v += step) bits.set(static_cast<std::size_t>(v));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return {};
}

std::vector<std::string_view> split_fields(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    if (i >= text.size()) break;
    const std::size_t begin = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    fields.push_back(text.substr(begin, i - begin));
  }
  return fields;
}

unsigned days_in_month(unsigned month) {
  constexpr unsigned k_days[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return k_days[month];
}

}  // namespace

util::Result<CronExpr, std::string> CronExpr::parse(std::string_view text) {
  const std::string trimmed = util::trim(text);
  if (trimmed.empty()) return util::Err(std::string("empty cron expression"));
  for (char c : trimmed) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      if (c == '\t') continue;
      return util::Err(std::string("cron expression contains a control or non-ASCII character"));
    }
  }
  std::string_view body = trimmed;
  if (trimmed[0] == '@') {
    const std::string lower = util::to_lower(trimmed);
    body = {};
    for (const auto& macro : k_macros) {
      if (lower == macro.name) body = macro.expansion;
    }
    if (body.empty()) {
      return util::Err(cat({"unknown macro ", squote(trimmed),
                            " (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight "
                            "or @hourly)"}));
    }
  }
  const auto fields = split_fields(body);
  if (fields.size() != 5) {
    return util::Err(cat({"expected 5 fields (minute hour day-of-month month day-of-week), got ",
                          std::to_string(fields.size())}));
  }
  CronExpr expr;
  expr.m_text = trimmed;
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;
  std::bitset<13> months;
  std::bitset<8> weekdays;
  std::string error = parse_field(k_fields[0], fields[0], minutes);
  if (error.empty()) error = parse_field(k_fields[1], fields[1], hours);
  if (error.empty()) error = parse_field(k_fields[2], fields[2], days);
  if (error.empty()) error = parse_field(k_fields[3], fields[3], months);
  if (error.empty()) error = parse_field(k_fields[4], fields[4], weekdays);
  if (!error.empty()) return util::Err(std::move(error));
  if (weekdays[7]) weekdays.set(0);
  expr.m_minutes = minutes;
  expr.m_hours = hours;
  expr.m_days = days;
  expr.m_months = months;
  for (std::size_t d = 0; d < 7; ++d) expr.m_weekdays[d] = weekdays[d];
  expr.m_dom_restricted = fields[2][0] != '*';
  expr.m_dow_restricted = fields[4][0] != '*';
  expr.m_dom_text = std::string(fields[2]);
  expr.m_day_of_month_only =
      !(expr.m_dom_restricted && expr.m_dow_restricted) && expr.m_weekdays.all();
  return expr;
}

bool CronExpr::day_matches(unsigned day_of_month, unsigned weekday) const {
  const bool dom = m_days[day_of_month];
  const bool dow = m_weekdays[weekday];
  if (m_dom_restricted && m_dow_restricted) return dom || dow;
  return dom && dow;
}

unsigned CronExpr::first_month() const {
  for (unsigned m = 1; m <= 12; ++m) {
    if (m_months[m]) return m;
  }
  return 1;  // unreachable: parse() never leaves the month set empty
}

int CronExpr::next_hour(int from) const {
  for (int h = from; h < 24; ++h) {
    if (m_hours[static_cast<std::size_t>(h)]) return h;
  }
  return -1;
}

int CronExpr::next_minute(int from) const {
  for (int m = from; m < 60; ++m) {
    if (m_minutes[static_cast<std::size_t>(m)]) return m;
  }
  return -1;
}

int CronExpr::prev_hour(int from) const {
  for (int h = from; h >= 0; --h) {
    if (m_hours[static_cast<std::size_t>(h)]) return h;
  }
  return -1;
}

int CronExpr::prev_minute(int from) const {
  for (int m = from; m >= 0; --m) {
    if (m_minutes[static_cast<std::size_t>(m)]) return m;
  }
  return -1;
}

bool CronExpr::matches(date::local_seconds t) const {
  const auto day = date::floor<date::days>(t);
  const date::year_month_day ymd(day);
  const auto since = std::chrono::duration_cast<minutes>(t - day).count();
  return m_months[static_cast<unsigned>(ymd.month())] &&
         day_matches(static_cast<unsigned>(ymd.day()), date::weekday(ymd).c_encoding()) &&
         m_hours[static_cast<std::size_t>(since / 60)] &&
         m_minutes[static_cast<std::size_t>(since % 60)];
}

std::optional<date::local_seconds> CronExpr::next_local(date::local_seconds after_local) const {
  const auto start = date::floor<minutes>(after_local) + minutes(1);
  auto day = date::floor<date::days>(start);
  const auto limit = day + date::days(k_search_days);
  const auto since = std::chrono::duration_cast<minutes>(start - day).count();
  int hour = static_cast<int>(since / 60);
  int minute = static_cast<int>(since % 60);
  while (day <= limit) {
    const date::year_month_day ymd(day);
    const date::year_month month(ymd.year(), ymd.month());
    if (!m_months[static_cast<unsigned>(ymd.month())]) {
      // Jump straight to the first day of the next allowed month.
      unsigned m = static_cast<unsigned>(ymd.month()) + 1;
      while (m <= 12 && !m_months[m]) ++m;
      const auto next =
          m <= 12 ? date::year_month(ymd.year(), date::month(m))
                  : date::year_month(ymd.year() + date::years(1), date::month(first_month()));
      day = date::local_days(next / 1);
      hour = minute = 0;
      continue;
    }
    // Walk the rest of the month with plain arithmetic (no calendar conversion per day).
    const unsigned last =
        static_cast<unsigned>(date::year_month_day_last(month / date::last).day());
    unsigned weekday = date::weekday(day).c_encoding();
    for (unsigned d = static_cast<unsigned>(ymd.day()); d <= last && day <= limit; ++d) {
      if (m_day_of_month_only && !m_days[d]) {
        // Only the day of the month matters: skip to the next allowed one.
        unsigned next = d + 1;
        while (next <= last && !m_days[next]) ++next;
        const unsigned skip = next - d;
        day += date::days(skip);
        weekday = (weekday + skip) % 7;
        d = next - 1;
        hour = minute = 0;
        continue;
      }
      if (day_matches(d, weekday)) {
        for (int h = next_hour(hour); h >= 0; h = next_hour(h + 1)) {
          const int m = next_minute(h == hour ? minute : 0);
          if (m >= 0) return date::local_seconds(day) + hours(h) + minutes(m);
        }
      }
      day += date::days(1);
      weekday = (weekday + 1) % 7;
      hour = minute = 0;
    }
  }
  return std::nullopt;
}

std::optional<date::local_seconds> CronExpr::prev_local(date::local_seconds at_local) const {
  const auto start = date::floor<minutes>(at_local);
  auto day = date::floor<date::days>(start);
  const auto limit = day - date::days(k_search_days);
  const auto since = std::chrono::duration_cast<minutes>(start - day).count();
  int hour = static_cast<int>(since / 60);
  int minute = static_cast<int>(since % 60);
  while (day >= limit) {
    const date::year_month_day ymd(day);
    if (!m_months[static_cast<unsigned>(ymd.month())]) {
      day = date::local_days(date::year_month(ymd.year(), ymd.month()) / 1) - date::days(1);
      hour = 23;
      minute = 59;
      continue;
    }
    unsigned weekday = date::weekday(day).c_encoding();
    for (unsigned d = static_cast<unsigned>(ymd.day()); d >= 1 && day >= limit; --d) {
      if (day_matches(d, weekday)) {
        for (int h = prev_hour(hour); h >= 0; h = h > 0 ? prev_hour(h - 1) : -1) {
          const int m = prev_minute(h == hour ? minute : 59);
          if (m >= 0) return date::local_seconds(day) + hours(h) + minutes(m);
        }
      }
      day -= date::days(1);
      weekday = (weekday + 6) % 7;
      hour = 23;
      minute = 59;
    }
  }
  return std::nullopt;
}

std::optional<std::string> CronExpr::never_fires() const {
  // With both day fields restricted, any allowed weekday fires in every month.
  if (m_dom_restricted && m_dow_restricted) return std::nullopt;
  for (unsigned month = 1; month <= 12; ++month) {
    if (!m_months[month]) continue;
    for (unsigned d = 1; d <= days_in_month(month); ++d) {
      if (m_days[d]) return std::nullopt;
    }
  }
  std::vector<std::string> months;
  for (unsigned month = 1; month <= 12; ++month) {
    if (m_months[month]) months.emplace_back(k_month_display[month - 1]);
  }
  return cat({"never fires: day-of-month ", squote(m_dom_text), " does not occur in ",
              util::join(months, ", ")});
}

}  // namespace schedule
