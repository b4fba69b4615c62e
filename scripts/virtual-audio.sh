#!/usr/bin/env bash
# Runs a command with a virtual microphone and speaker (PulseAudio null
# sinks behind ALSA's `default` device), for the local-audio tests:
#   vmic_feed  a sink: what is played into it is what the microphone hears
#              (`paplay -d vmic_feed file.wav`)
#   vmic       the default source (the microphone), fed by vmic_feed
#   vspeaker   the default sink (the speaker); record it from vspeaker.monitor
# With VIRTUAL_AUDIO_ECHO=1 the speaker is also looped into the microphone,
# as on a laptop whose own speaker the microphone hears.
#
#   scripts/virtual-audio.sh cargo test --test local_audio -- --ignored
set -euo pipefail
command -v pulseaudio >/dev/null || { echo "virtual-audio: install pulseaudio (scripts/setup.sh test does)" >&2; exit 1; }

DIR="$(mktemp -d /tmp/sb-pulse.XXXXXX)"
export XDG_RUNTIME_DIR="$DIR/run" XDG_CONFIG_HOME="$DIR/config" HOME="${HOME:-/root}"
mkdir -p "$XDG_RUNTIME_DIR/pulse" "$XDG_CONFIG_HOME/alsa" "$DIR/state"
chmod 700 "$XDG_RUNTIME_DIR"
export PULSE_SERVER="unix:$XDG_RUNTIME_DIR/pulse/native"
export PULSE_STATE_PATH="$DIR/state"
cat > "$XDG_CONFIG_HOME/alsa/asoundrc" <<'ALSA'
pcm.!default { type pulse }
ctl.!default { type pulse }
ALSA
export ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf"
# ALSA reads ~/.asoundrc and $XDG_CONFIG_HOME/alsa/asoundrc.
cat > "$DIR/pa.conf" <<PA
load-module module-native-protocol-unix auth-anonymous=1 socket=$XDG_RUNTIME_DIR/pulse/native
load-module module-null-sink sink_name=vspeaker rate=48000 channels=2
load-module module-null-sink sink_name=vmic_feed rate=48000 channels=2
load-module module-remap-source source_name=vmic master=vmic_feed.monitor
load-module module-null-sink sink_name=discard rate=48000 channels=2
load-module module-loopback source=vspeaker.monitor sink=discard latency_msec=20
load-module module-loopback source=vmic_feed.monitor sink=discard latency_msec=20
set-default-sink vspeaker
set-default-source vmic
PA
if [ "${VIRTUAL_AUDIO_ECHO:-0}" = 1 ]; then
  echo "load-module module-loopback source=vspeaker.monitor sink=vmic_feed latency_msec=30" >> "$DIR/pa.conf"
fi
pulseaudio --daemonize=no --exit-idle-time=-1 --system=false --disallow-exit --use-pid-file=no -n -F "$DIR/pa.conf" \
  >"$DIR/pulse.log" 2>&1 &
PA_PID=$!
cleanup() { kill "$PA_PID" 2>/dev/null || true; wait "$PA_PID" 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
for _ in $(seq 1 50); do
  pactl info >/dev/null 2>&1 && break
  sleep 0.1
done
pactl info >/dev/null 2>&1 || { echo "virtual-audio: PulseAudio did not start:" >&2; cat "$DIR/pulse.log" >&2; exit 1; }
# The null sinks settle before they run in real time.
sleep 2
"$@"
