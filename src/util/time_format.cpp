#include "util/time_format.hpp"

#include <cctype>
#include <cstdio>
#include <ctime>

namespace util {

std::string format_rfc3339(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  int millis = static_cast<int>(ms - static_cast<long long>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

namespace {
bool read_int(std::string_view s, std::size_t& i, int digits, int& out) {
  if (i + digits > s.size()) return false;
  out = 0;
  for (int k = 0; k < digits; ++k) {
    char c = s[i + k];
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    out = out * 10 + (c - '0');
  }
  i += digits;
  return true;
}
}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view s) {
  using namespace std::chrono;
  std::size_t i = 0;
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!read_int(s, i, 4, y) || i >= s.size() || s[i++] != '-') return std::nullopt;
  if (!read_int(s, i, 2, mo) || i >= s.size() || s[i++] != '-') return std::nullopt;
  if (!read_int(s, i, 2, d)) return std::nullopt;
  long long frac_ns = 0;
  int offset_minutes = 0;
  if (i < s.size() && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
    ++i;
    if (!read_int(s, i, 2, h) || i >= s.size() || s[i++] != ':') return std::nullopt;
    if (!read_int(s, i, 2, mi)) return std::nullopt;
    if (i < s.size() && s[i] == ':') {
      ++i;
      if (!read_int(s, i, 2, sec)) return std::nullopt;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      long long scale = 100'000'000;
      bool any = false;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
        frac_ns += (s[i] - '0') * scale;
        scale /= 10;
        any = true;
        ++i;
      }
      if (!any) return std::nullopt;
    }
    if (i < s.size()) {
      if (s[i] == 'Z' || s[i] == 'z') {
        ++i;
      } else if (s[i] == '+' || s[i] == '-') {
        int sign = s[i] == '-' ? -1 : 1;
        ++i;
        int oh, om = 0;
        if (!read_int(s, i, 2, oh)) return std::nullopt;
        if (i < s.size() && s[i] == ':') ++i;
        if (i < s.size() && !read_int(s, i, 2, om)) return std::nullopt;
        offset_minutes = sign * (oh * 60 + om);
      } else {
        return std::nullopt;
      }
    }
  }
  if (i != s.size()) return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  // Days from civil (Howard Hinnant's algorithm).
  int yy = y - (mo <= 2);
  int era = (yy >= 0 ? yy : yy - 399) / 400;
  unsigned yoe = static_cast<unsigned>(yy - era * 400);
  unsigned doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  long long days = static_cast<long long>(era) * 146097 + static_cast<long long>(doe) - 719468;
  long long total_s = days * 86400 + h * 3600 + mi * 60 + sec - offset_minutes * 60LL;
  return system_clock::time_point(
      duration_cast<system_clock::duration>(seconds(total_s) + nanoseconds(frac_ns)));
}

}  // namespace util
