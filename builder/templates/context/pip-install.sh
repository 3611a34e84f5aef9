#!/bin/sh
# pip install with the build's package sources; empty build args are dropped, not passed as "".
set -eu
for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS PIP_CONSTRAINT; do
  eval "value=\${$var:-}"
  if [ -z "$value" ]; then unset "$var"; else export "$var"; fi
done
exec pip install "$@"
