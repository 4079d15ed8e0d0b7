#include <malloc.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "cli/cli.hpp"

int main(int argc, char** argv) {
  // The API token lives in this process's memory: no core dump may ever hold it (issue 14).
  // Non-dumpable also keeps other processes of the user from reading our memory through /proc.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);  // EPERM under the unit's syscall filter: LimitCORE=0 there
  // Buffers of 128 KiB and more (answer bodies, parsed pages) always come from mmap and go back
  // to the kernel when freed. glibc would otherwise raise this threshold after the first large
  // free, and every thread's arena would keep its largest answer resident: eight 8 MiB answers
  // received one after another on eight threads left ~170 MiB behind.
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  return cli::run(argc, argv);
}
