# Shell helpers shared by infra/test.sh, infra/fuzz.sh and infra/outage.sh (sourced, not run).

# A free loopback port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Waits until something listens on port $1, failing (with log $3 printed) if process $2 exits
# first or a minute passes.
wait_for_port() { # port pid log
  for _ in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; echo "process exited before listening" >&2; return 1; }
    sleep 0.5
  done
  cat "$3" >&2; echo "nothing listened on port $1" >&2; return 1
}

# The keel-local binary to run: $KEEL_LOCAL_BIN when infra/test.sh has built it with the tests
# (one build, the tests' feature set), otherwise built here the way `cargo run -p keel-local` is.
keel_local_bin() {
  if [ -n "${KEEL_LOCAL_BIN:-}" ]; then echo "$KEEL_LOCAL_BIN"; return; fi
  cargo build --locked --quiet -p keel-local >&2
  echo "$PWD/target/debug/keel-local"
}
