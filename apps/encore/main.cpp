// The encore command line: one binary, one subcommand per job (see README.md).
#include <cstdio>
int main() { std::puts("encore"); return 0; }
