# What the broker checks share; sourced, never run.

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
