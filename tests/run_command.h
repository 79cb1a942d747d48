// The CLI tests' common runner: a shell command line, its stdout captured whole.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

struct CommandOutput {
  int exit_code = -1;  // -1: not started, or ended by a signal
  std::string out;
};

inline CommandOutput RunShell(const std::string& command) {
  CommandOutput o;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return o;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.out.append(buf, n);
  const int st = pclose(p);
  o.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}
