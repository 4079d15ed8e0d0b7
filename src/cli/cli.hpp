#pragma once

namespace cli {

// The whole command line: parses options, runs the subcommand, maps every failure to an exit
// code (0 ok, 1 error, 2 changes present with --detailed-exitcode, 3 blocked actions).
int run(int argc, char** argv);

}  // namespace cli
