// pause: the pod sandbox's process. It holds the pod's namespaces open, reaps
// the zombies of a shared PID namespace (it is PID 1 there) and exits 0 on
// SIGTERM or SIGINT, which is how the runtime stops a sandbox.
//
// Built with `gcc -static` by scripts/build-images: the image holds this file
// alone, with no libc to ship.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) {
  (void)sig;
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  // Several children may have exited for one SIGCHLD; errno belongs to the
  // interrupted code.
  int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    puts("pause (promsidecar)");
    return 0;
  }
  if (getpid() != 1) {
    // Harmless outside a PID namespace (a test runs it so), but then it
    // reaps nobody's zombies.
    fputs("pause: not PID 1, zombies of the pod are not reaped here\n", stderr);
  }
  struct sigaction term = {.sa_handler = stop};
  struct sigaction child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
  sigemptyset(&term.sa_mask);
  sigemptyset(&child.sa_mask);
  if (sigaction(SIGINT, &term, NULL) < 0 || sigaction(SIGTERM, &term, NULL) < 0 ||
      sigaction(SIGCHLD, &child, NULL) < 0) {
    perror("pause: sigaction");
    return 1;
  }
  for (;;) pause();
}
