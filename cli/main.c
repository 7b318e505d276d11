// SPDX-License-Identifier: MIT
/*
 * The entry of the `lokt` program: one run of it (run.c). Kept apart so
 * that an in-process caller, the fuzz target of the argument parsing
 * (tests/fuzz/fuzz_cli.c), links every other file of cli/ and calls
 * cli_run itself.
 */
#include "cli.h"

int main(int argc, char **argv)
{
	return cli_exit(cli_run(argc, argv, 0));
}
