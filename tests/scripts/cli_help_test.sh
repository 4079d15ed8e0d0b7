#!/usr/bin/env bash
# Help, completion and the man page (issue 18, item 1), as a user meets them: `aisearchd CMD
# --help` and `aisearchd help CMD` are per command (usage, its options, an example); completion
# scripts for bash, zsh and fish load and complete commands, options and option values; the man
# page renders without warnings; all of them come from one option table, and every option they
# show is in the README's "Commands" section.
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=$AISEARCHD_BIN

"$bin" --help >"$work/help.txt" || fail "--help exited $?"
commands=(run plan apply validate sync status adopt forget schema export state completion help)
for c in "${commands[@]}"; do
  grep -Eq "^  $c( |$)" "$work/help.txt" || fail "--help does not list $c"
  "$bin" "$c" --help >"$work/$c.txt" || fail "$c --help exited $?"
  head -1 "$work/$c.txt" | grep -q "^Usage: aisearchd \[OPTIONS\] $c" || fail "$c --help: $(head -2 "$work/$c.txt")"
  grep -q "^Example:" "$work/$c.txt" || fail "$c --help has no example"
  "$bin" help "$c" >"$work/$c.help" || fail "help $c exited $?"
  cmp -s "$work/$c.help" "$work/$c.txt" || fail "help $c differs from $c --help"
done
grep -q -- "--out FILE" "$work/plan.txt" || fail "plan --help does not show --out"
grep -q -- "--timeout DURATION" "$work/sync.txt" || fail "sync --help does not show --timeout"
grep -qE -- "--out( |$)" "$work/sync.txt" && fail "sync --help shows plan's --out"
grep -q -- "--force" "$work/adopt.txt" || fail "adopt --help does not show --force"
set +e
out=$("$bin" help frobnicate 2>&1); code=$?
set -e
[[ $code -eq 1 && $out == *'unknown command "frobnicate"'* ]] || fail "help frobnicate: $code $out"
set +e
out=$("$bin" completion tcsh 2>&1); code=$?
set -e
[[ $code -eq 1 && $out == *"bash, zsh, fish"* ]] || fail "completion tcsh: $code $out"

# Every option the helps show is in the README's Commands section.
readme="$SOURCE_DIR/README.md"
commands_section=$(sed -n '/^## Commands/,/^## /p' "$readme")
for f in "$work"/*.txt; do
  for option in $(grep -oE -- '--[a-z][a-z-]+' "$f" | sort -u); do
    [[ $commands_section == *"$option"* ]] || fail "$option (in $(basename "$f" .txt) help) is not in README Commands"
  done
done

# bash: load the script and complete like readline would.
"$bin" completion bash >"$work/aisearchd.bash"
bash -n "$work/aisearchd.bash" || fail "bash completion does not parse"
complete_bash() {  # complete_bash WORD...: the last word is the one being completed
  # (output captured whole: `grep -q` may close a pipe early, and with pipefail the writer's
  # SIGPIPE would fail the check)
  local out
  out=$(bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _aisearchd; printf "%s\n" "${COMPREPLY[@]}"' _ "$work/aisearchd.bash" "$@")
  printf '%s\n' "$out"
}
offers() {  # offers WANT WORD...: the completion of WORD... lists WANT (no pipe into grep -q:
  # with pipefail its early exit could fail the writer)
  local want=$1 got
  shift
  got=$(complete_bash "$@")
  grep -qx -- "$want" <<<"$got"
}
offers plan aisearchd pl || fail "bash: aisearchd pl<TAB>"
offers --out aisearchd plan --o || fail "bash: plan --o<TAB> lacks --out"
offers --output aisearchd plan --o || fail "bash: plan --o<TAB> lacks --output"
offers --out aisearchd sync --o && fail "bash: sync offers plan's --out"
[[ $(complete_bash aisearchd plan -o "" | sort | tr '\n' ' ') == "json markdown text " ]] || fail "bash: -o <TAB>: $(complete_bash aisearchd plan -o "")"
offers status aisearchd -m x.yaml sta || fail "bash: a value is not taken for the command"
offers zsh aisearchd completion "" || fail "bash: completion <TAB>"
offers man aisearchd ma || fail "bash: aisearchd ma<TAB>"
offers 5 aisearchd man "" || fail "bash: man <TAB> lacks 5"

# zsh and fish: they parse; fish completes.
"$bin" completion zsh >"$work/_aisearchd"
zsh -n "$work/_aisearchd" || fail "zsh completion does not parse"
head -1 "$work/_aisearchd" | grep -qx '#compdef aisearchd' || fail "zsh completion lacks #compdef"
# zsh completes a command's own options after the command: an interactive zsh in a pty, read
# until the completion shows or 20 s pass.
mkdir -p "$work/zfunc" && cp "$work/_aisearchd" "$work/zfunc/"
zsh_out=$(ZFUNC="$work/zfunc" timeout 30 zsh -f -c '
  zmodload zsh/zpty
  zpty z "zsh -f -i"
  zpty -w z "PS1=\"> \"; fpath=($ZFUNC \$fpath); autoload -Uz compinit; compinit -u -D; aisearchd() { :; }"
  zpty -w z $'"'"'aisearchd plan --dr\t'"'"'
  all=""
  for i in {1..200}; do
    while zpty -r -t z chunk; do all+=$chunk; done
    [[ $all == *"--dry-run "* ]] && break
    sleep 0.1
  done
  zpty -d z
  print -r -- "$all"' 2>&1 || true)
grep -q -- '--dry-run ' <<<"$zsh_out" || fail "zsh: aisearchd plan --dr<TAB> does not offer --dry-run: $zsh_out"
"$bin" completion fish >"$work/aisearchd.fish"
fish -n "$work/aisearchd.fish" || fail "fish completion does not parse"
fish_pl=$(fish -c "source $work/aisearchd.fish; complete -C 'aisearchd pl'")
grep -q '^plan' <<<"$fish_pl" || fail "fish: aisearchd pl<TAB>: $fish_pl"
fish_out=$(fish -c "source $work/aisearchd.fish; complete -C 'aisearchd plan --o'")
grep -q '^--out' <<<"$fish_out" || fail "fish: plan --o<TAB>: $fish_out"
fish_man=$(fish -c "source $work/aisearchd.fish; complete -C 'aisearchd man '")
grep -qx '5' <<<"$fish_man" || fail "fish: man <TAB> lacks 5: $fish_man"
grep -q '^apply' <<<"$fish_man" && fail "fish: man <TAB> offers commands: $fish_man"

# The man page: renders without a warning and names every command and option.
"$bin" man >"$work/aisearchd.1"
warnings=$(groff -man -ww -z "$work/aisearchd.1" 2>&1)
[[ -z $warnings ]] || fail "groff warnings: $warnings"
MANWIDTH=100 man -l "$work/aisearchd.1" 2>/dev/null | col -b >"$work/man.txt"
for c in "${commands[@]}"; do grep -q "^       $c" "$work/man.txt" || fail "the man page lacks $c"; done
for option in $(grep -ohE -- '--[a-z][a-z-]+' "$work"/*.txt | sort -u); do
  grep -q -- "$option" "$work/man.txt" || fail "the man page lacks $option"
done

# aisearchd.yaml(5): renders without a warning and describes every key the shipped config sets
# or shows (the reader accepts exactly the keys of the table it is made from: unit test
# ConfigKeys.*).
"$bin" man 5 >"$work/aisearchd.yaml.5"
warnings=$(groff -man -ww -z "$work/aisearchd.yaml.5" 2>&1)
[[ -z $warnings ]] || fail "groff warnings in aisearchd.yaml(5): $warnings"
MANWIDTH=100 man -l "$work/aisearchd.yaml.5" 2>/dev/null | col -b >"$work/man5.txt"
grep -q '^AISEARCHD.YAML(5)' "$work/man5.txt" || fail "aisearchd man 5 is not aisearchd.yaml(5)"
keys=$(sed -n 's/^ *#* *\([a-z_][a-z_]*\):.*/\1/p' "$SOURCE_DIR/config/aisearchd.yaml" | sort -u)
[[ $(wc -w <<<"$keys") -ge 25 ]] || fail "too few keys read from config/aisearchd.yaml: $keys"
for key in $keys; do
  grep -q "^       $key " "$work/man5.txt" || fail "aisearchd.yaml(5) does not describe $key"
done
"$bin" man 7 >/dev/null 2>"$work/err" && fail "aisearchd man 7 succeeded"
grep -q 'unexpected "7": expected no SECTION, 1' "$work/err" || fail "aisearchd man 7: $(cat "$work/err")"
echo PASS
