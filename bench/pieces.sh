# Sourced by device_session.sh and serve_session.sh (after their say()): put one packed tree back together from
# the pieces earlier calls left in /tmp/parts (bench/pack_site.py and bench/pack_serve.py cut them).
#   unpack_pieces NAME COUNT SHA256 DEST     NAME.part* only: the other session's pieces may be there too;
#                                            an empty SHA256 is not checked
unpack_pieces() {
  local name=$1 count=$2 sha=$3 dest=$4 sum mine
  shopt -s nullglob; mine=(/tmp/parts/"$name".part*); shopt -u nullglob
  [ ${#mine[@]} -ge "$count" ] || { say "missing pieces: have ${#mine[@]} of $count"; return 1; }
  mapfile -t mine < <(printf '%s\n' "${mine[@]}" | sort -V)  # part2 before part10
  sum=$(cat "${mine[@]}" | sha256sum | cut -d' ' -f1)
  [ -z "$sha" ] || [ "$sum" = "$sha" ] || { say "pieces corrupt: $sum"; return 1; }
  mkdir -p "$dest" && cat "${mine[@]}" | xz -dc -T0 | tar -C "$dest" -xf - || { say "unpack failed"; return 1; }
  say "pieces unpacked into $dest: $(du -sh "$dest" | cut -f1)"
}
