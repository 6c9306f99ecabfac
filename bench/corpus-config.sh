# Sourced by bench scripts: writes the shipped config with every source's
# https URL replaced by a corpus feed as file://, so a bench polls real feeds
# without a network. WordPress-, Ghost-, Blogger- and Hugo-made RSS and Atom of
# similar sizes, one per source of config/default.toml, in order.
#
# Usage: default_config_on_corpus CORPUS_DIR OUT_FILE   (from the repo root)
default_config_on_corpus() {
  local corpus=$1 out=$2 line i=0
  local feeds=(
    rogue-scholar-api/captured-feeds/www.leidenmadtrics.nl_c8d1bc3d4e.xml
    rogue-scholar-api/captured-feeds/tarleb.com_d4373d4b00.xml
    rogue-scholar-api/captured-feeds/cwagen.substack.com_85adfba73a.xml
    rogue-scholar-api/captured-feeds/blog.front-matter.io_80483374b6.xml
    rogue-scholar-api/captured-feeds/iphylo.blogspot.com_9ae88ebc98.xml
    rogue-scholar-api/captured-feeds/wisspub.net_7f6db621ea.xml
    rogue-scholar-api/captured-feeds/blog.dini.de_669390d34d.xml
    rogue-scholar-api/captured-feeds/www.leidenmadtrics.nl_41a71170bf.xml
  )
  while IFS= read -r line; do
    if [[ $line =~ ^url\ =\ \"https ]]; then
      echo "url = \"file://$corpus/${feeds[$i]}\""
      i=$((i + 1))
    else
      echo "$line"
    fi
  done < config/default.toml > "$out"
  [ "$i" -eq "${#feeds[@]}" ] || {
    echo "config/default.toml has $i sources, the bench maps ${#feeds[@]}" >&2
    return 1
  }
}
