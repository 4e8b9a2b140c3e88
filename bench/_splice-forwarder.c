// The cheapest relay hop there is, for `npm run bench -- tunnel`: a TCP
// forwarder that moves bytes with splice(2) (socket → pipe → socket), so
// they never reach user space. No framing, no multiplexing, no TLS: a
// port-forward to a pod running this, with the pod dialling the target,
// measures what any relay pod costs on top of a raw port-forward, whatever
// it is written in.
//
//   usage: splice-forwarder LISTEN_PORT TARGET_IPV4 TARGET_PORT
//
// One thread per direction per connection. A FIN is passed on
// (shutdown(SHUT_WR) on the far socket); a reset or a failed write ends
// both directions at once. It serves until killed.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define PIPE_BYTES (1 << 20)

struct connection {
  int client;
  int target;
  atomic_int directions_left;
};

struct direction {
  struct connection *conn;
  int from;
  int to;
};

static void connection_release(struct connection *c) {
  if (atomic_fetch_sub(&c->directions_left, 1) != 1) return;
  close(c->client);
  close(c->target);
  free(c);
}

static void *pump(void *arg) {
  struct direction *d = arg;
  int pipefd[2];
  int clean = 0;
  if (pipe2(pipefd, O_CLOEXEC) == 0) {
    fcntl(pipefd[1], F_SETPIPE_SZ, PIPE_BYTES);
    for (;;) {
      ssize_t n = splice(d->from, NULL, pipefd[1], NULL, PIPE_BYTES, SPLICE_F_MOVE | SPLICE_F_MORE);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) clean = 1;
      if (n <= 0) break;
      while (n > 0) {
        ssize_t m = splice(pipefd[0], NULL, d->to, NULL, (size_t)n, SPLICE_F_MOVE | SPLICE_F_MORE);
        if (m < 0 && errno == EINTR) continue;
        if (m <= 0) goto done;
        n -= m;
      }
    }
  done:
    close(pipefd[0]);
    close(pipefd[1]);
  }
  if (clean) {
    shutdown(d->to, SHUT_WR); // the FIN goes on; the other direction carries on
  } else {
    shutdown(d->from, SHUT_RDWR); // a reset or a write error ends the connection both ways
    shutdown(d->to, SHUT_RDWR);
  }
  connection_release(d->conn);
  free(d);
  return NULL;
}

static int start_direction(struct connection *c, int from, int to) {
  struct direction *d = malloc(sizeof *d);
  if (d == NULL) return -1;
  *d = (struct direction){.conn = c, .from = from, .to = to};
  pthread_t thread;
  if (pthread_create(&thread, NULL, pump, d) != 0) {
    free(d);
    return -1;
  }
  pthread_detach(thread);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s LISTEN_PORT TARGET_IPV4 TARGET_PORT\n", argv[0]);
    return 2;
  }
  struct sockaddr_in listen_at = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  struct sockaddr_in target = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
  if (inet_pton(AF_INET, argv[2], &target.sin_addr) != 1) {
    fprintf(stderr, "not an IPv4 address: %s\n", argv[2]);
    return 2;
  }
  // splice() into a socket the peer has reset raises SIGPIPE (it has no
  // MSG_NOSIGNAL): take EPIPE as an error instead.
  signal(SIGPIPE, SIG_IGN);
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) {
    perror("socket");
    return 1;
  }
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listener, (struct sockaddr *)&listen_at, sizeof listen_at) != 0 || listen(listener, 64) != 0) {
    perror("listen");
    return 1;
  }
  for (;;) {
    int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno != EINTR && errno != ECONNABORTED) usleep(10000); // out of fds or memory: do not spin
      continue;
    }
    int to = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (to < 0 || connect(to, (struct sockaddr *)&target, sizeof target) != 0) {
      close(client);
      if (to >= 0) close(to);
      continue;
    }
    struct connection *c = malloc(sizeof *c);
    if (c == NULL) {
      close(client);
      close(to);
      continue;
    }
    c->client = client;
    c->target = to;
    atomic_init(&c->directions_left, 2);
    if (start_direction(c, client, to) != 0) {
      atomic_store(&c->directions_left, 1);
      connection_release(c);
      continue;
    }
    if (start_direction(c, to, client) != 0) {
      shutdown(client, SHUT_RDWR);
      connection_release(c);
    }
  }
}
