#!/usr/bin/env bash
# Crawl throughput on a real documentation site served on loopback: the
# Python 3.11 docs (Debian's python3.11-doc, 530 HTML pages) served by nginx,
# crawled by (a) `wget -r` (fetches and saves, parses nothing: the ceiling),
# (b) a minimal Scrapy CrawlSpider with AutoThrottle and robots.txt obeyed,
# (c) our crawler (crates/crawl/examples/crawl_site.rs: `Crawler::run` with
# the default settings into a counting sink). Prints pages and pages/s each.
#
#   bash scripts/crawl-compare.sh            # all three
#   ONLY=ours bash scripts/crawl-compare.sh  # one of: wget scrapy ours
#   SCRAPY_AUTOTHROTTLE=0 ...                # Scrapy without AutoThrottle
#
# Installs what it needs (idempotent): nginx-light, python3.11-doc and wget
# with apt-get, Scrapy with pip into ~/.cache/switchboard/venv. nginx runs in
# the foreground with its own configuration in a temp dir and is stopped at
# the end. Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}"
VENV="$HOME/.cache/switchboard/venv"
DOCS="${CRAWL_COMPARE_DOCS:-/usr/share/doc/python3.11/html}"
ONLY="${ONLY:-}"

log() { printf '== %s\n' "$*" >&2; }

# --- what is needed -------------------------------------------------------
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v wget >/dev/null 2>&1 || missing+=(wget)
[ -f "$DOCS/index.html" ] || missing+=(python3.11-doc)
if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    # The packages must not start a system nginx on port 80: without a
    # policy-rc.d of the machine's own, one that refuses service starts is
    # put in place for the install.
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy=/usr/sbin/policy-rc.d
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    [ -n "$policy" ] && rm -f "$policy"
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
if [ ! -x "$VENV/bin/scrapy" ]; then
    log "pip install scrapy into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q scrapy
fi

# --- the site ---------------------------------------------------------------
WORK="$(mktemp -d /tmp/crawl-compare.XXXXXX)"
NGINX_PID=""
cleanup() {
    if [ -n "$NGINX_PID" ]; then
        kill "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 512; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$PORT;
        root $DOCS;
        index index.html;
    }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
NGINX_PID=$!
URL="http://127.0.0.1:$PORT/"
for _ in $(seq 50); do
    if wget -q -O /dev/null "$URL"; then break; fi
    sleep 0.1
done
wget -q -O /dev/null "$URL" || { log "nginx did not come up"; cat "$WORK/nginx/logs/error.log" >&2; exit 1; }
log "serving $DOCS ($(find "$DOCS" -name '*.html' | wc -l) HTML files) at $URL"

now() { date +%s.%N; }
report() { # name pages start end
    python3 -c 'import sys; n, p, a, b = sys.argv[1:]; s = float(b) - float(a); print(f"{n:<7} {int(p):>5} pages in {s:7.2f} s = {int(p) / s:7.1f} pages/s")' "$@"
}
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

# --- (a) wget ---------------------------------------------------------------
if want wget; then
    mkdir -p "$WORK/wget"
    t0=$(now)
    wget -r -l inf -np -q -P "$WORK/wget" "$URL" || true
    t1=$(now)
    report wget "$(find "$WORK/wget" -name '*.html' | wc -l)" "$t0" "$t1"
fi

# --- (b) Scrapy -------------------------------------------------------------
if want scrapy; then
    cat >"$WORK/docs_spider.py" <<'EOF'
"""Follows every same-site link; counts the HTML pages it parses."""
import json
import os
import sys
from urllib.parse import urlparse

from scrapy.crawler import CrawlerProcess
from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule


class Docs(CrawlSpider):
    name = "docs"
    rules = (Rule(LinkExtractor(), callback="parse_page", follow=True),)

    def __init__(self, start, *args, **kwargs):
        self.start_urls = [start]
        self.allowed_domains = [urlparse(start).hostname]
        super().__init__(*args, **kwargs)

    def parse_start_url(self, response):
        return self.parse_page(response)

    def parse_page(self, response):
        self.crawler.stats.inc_value("pages")
        return []


process = CrawlerProcess(
    settings={
        "AUTOTHROTTLE_ENABLED": os.environ.get("SCRAPY_AUTOTHROTTLE", "1") != "0",
        "ROBOTSTXT_OBEY": True,
        "LOG_LEVEL": "WARNING",
        "TELNETCONSOLE_ENABLED": False,
    }
)
crawler = process.create_crawler(Docs)
process.crawl(crawler, start=sys.argv[1])
process.start()
print(json.dumps({"pages": crawler.stats.get_value("pages", 0)}))
EOF
    t0=$(now)
    out="$("$VENV/bin/python" "$WORK/docs_spider.py" "$URL")"
    t1=$(now)
    report scrapy "$(python3 -c 'import json, sys; print(json.loads(sys.argv[1].splitlines()[-1])["pages"])' "$out")" "$t0" "$t1"
fi

# --- (c) ours -----------------------------------------------------------------
if want ours; then
    cargo build -q --release -p switchboard-crawl --example crawl_site
    BIN="$CARGO_TARGET_DIR/release/examples/crawl_site"
    t0=$(now)
    out="$("$BIN" "$URL")"
    t1=$(now)
    log "ours: $out"
    report ours "$(sed -n 's/^pages=\([0-9]*\).*/\1/p' <<<"$out")" "$t0" "$t1"
fi
