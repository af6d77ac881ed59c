#!/usr/bin/env bash
# How busy the machine's cores are, from /proc/stat.
#   cpu_busy.sh           prints a mark: "<busy jiffies> <total jiffies>"
#   cpu_busy.sh B T       prints the percentage of the cores' time spent busy since that mark
set -euo pipefail
read -r _ user nice system idle iowait irq softirq steal _ < /proc/stat
busy=$((user + nice + system + irq + softirq + steal))
total=$((busy + idle + iowait))
if [ $# -eq 2 ]; then
  echo $(( (busy - $1) * 100 / (total - $2 > 0 ? total - $2 : 1) ))
else
  echo "$busy $total"
fi
