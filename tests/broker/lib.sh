# What the broker checks share; sourced, never run. A script that sources it
# sets W (its temp dir) and PIDS (the processes it started), then
# `trap cleanup EXIT`.

# shellcheck disable=SC2317 # reached through the EXIT trap
cleanup() {
  local pid
  # Bash's notices of the jobs killed here would land after the summary:
  # its stderr goes quiet, what this says goes to the saved one.
  exec 3>&2 2>/dev/null
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill -TERM "$pid"; done
  sleep 0.5
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill -KILL "$pid"; done
  if [ -n "${KEEP:-}" ]; then echo "kept $W" >&3; else rm -rf "$W"; fi
}

# A free TCP port on 127.0.0.1.
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# wait_port PORT SECONDS [PID]: until something listens on PORT; gives up
# early when the process PID has exited.
wait_port() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

# The last line of a log, for a failure message.
last() { tail -n 1 "$1" 2>/dev/null | cut -c1-200; }
