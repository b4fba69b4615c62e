#!/usr/bin/env python3
"""A test participant in a LiveKit room, on LiveKit's own Python SDK (the
`livekit` wheel whose native library the app loads too).

It joins, publishes a microphone track that carries silence until told to
play a WAV, and records what the agent (or anyone it is told to) says.
Commands on stdin, one per line:
    play PATH      queue a WAV (any rate, mono) on the microphone
    save PATH      write what was recorded since the last save, then reset
    quit           leave
It prints `ready` once its track is published, `heard IDENTITY` when it
subscribes to someone's audio, and `saved PATH SECONDS` after a save.
"""
import argparse
import asyncio
import sys
import wave

import numpy as np
from livekit import rtc

RATE = 48000
FRAME = RATE // 100  # 10 ms


def load_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2, "mono 16-bit WAV expected"
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32)
    if rate != RATE:
        n = int(len(pcm) * RATE / rate)
        pcm = np.interp(np.linspace(0, len(pcm) - 1, n), np.arange(len(pcm)), pcm)
    return pcm.astype(np.int16)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--record-from", default="switchboard-agent")
    args = ap.parse_args()

    room = rtc.Room()
    recorded = []
    tasks = []

    async def record(track):
        stream = rtc.AudioStream(track, sample_rate=RATE, num_channels=1)
        async for ev in stream:
            recorded.append(np.frombuffer(ev.frame.data, dtype=np.int16).copy())

    @room.on("track_subscribed")
    def on_track(track, publication, participant):
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            print(f"heard {participant.identity}", flush=True)
            if participant.identity == args.record_from:
                tasks.append(asyncio.ensure_future(record(track)))

    await room.connect(args.url, args.token, rtc.RoomOptions(auto_subscribe=True))
    source = rtc.AudioSource(RATE, 1, queue_size_ms=200)
    track = rtc.LocalAudioTrack.create_audio_track("microphone", source)
    opts = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await room.local_participant.publish_track(track, opts)
    print("ready", flush=True)

    queue = []
    done = asyncio.Event()

    async def microphone():
        silence = np.zeros(FRAME, dtype=np.int16)
        pos = 0
        while not done.is_set():
            if queue:
                clip = queue[0]
                chunk = clip[pos : pos + FRAME]
                pos += FRAME
                if pos >= len(clip):
                    queue.pop(0)
                    pos = 0
                if len(chunk) < FRAME:
                    chunk = np.concatenate([chunk, silence[: FRAME - len(chunk)]])
            else:
                chunk = silence
            frame = rtc.AudioFrame(chunk.tobytes(), RATE, 1, FRAME)
            await source.capture_frame(frame)  # paced by the source's queue

    mic = asyncio.ensure_future(microphone())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if not line or line == "quit":
            break
        cmd, _, arg = line.partition(" ")
        if cmd == "play":
            queue.append(load_wav(arg))
            print(f"playing {arg}", flush=True)
        elif cmd == "save":
            pcm = np.concatenate(recorded) if recorded else np.zeros(0, dtype=np.int16)
            recorded.clear()
            with wave.open(arg, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(RATE)
                w.writeframes(pcm.tobytes())
            print(f"saved {arg} {len(pcm) / RATE:.2f}", flush=True)
    done.set()
    await mic
    await room.disconnect()
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    asyncio.run(main())
