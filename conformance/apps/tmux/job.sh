# sleep_job PID: the pid of the sleep among PID's descendants (the shell's foreground job), if any. The window's
# shell may be bash itself or an sh that started it (tmux runs its command through the default shell).
sleep_job() {
  for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    if [ "$(cat /proc/"$c"/comm 2>/dev/null)" = sleep ]; then
      echo "$c"
      return
    fi
    sleep_job "$c"
  done
}
