"""A camera for chromium: a QR code drawn into a .y4m video that Chromium's fake capture device plays on a loop
(--use-fake-device-for-media-stream --use-file-for-fake-video-capture=FILE)."""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from ecard.render import png

WIDTH, HEIGHT = 640, 480


def qr_video(text: str, path: Path, frames: int = 10) -> Path:
    """The QR for `text` (zxing-cpp, the same renderer as `sscard qr show`), as a video."""
    return image_video(png(text, scale=4), path, frames)


def image_video(image: bytes, path: Path, frames: int = 10) -> Path:
    """A picture (PNG bytes: a QR, or a screenshot of one on a page) centred on grey, as YUV 4:2:0 frames."""
    qr = Image.open(io.BytesIO(image)).convert("L")
    side = min(HEIGHT - 40, max(qr.width, qr.height) * 2)
    qr = qr.resize((side, side), Image.NEAREST)
    frame = Image.new("L", (WIDTH, HEIGHT), 200)
    frame.paste(qr, ((WIDTH - side) // 2, (HEIGHT - side) // 2))
    y = frame.tobytes()
    chroma = bytes([128]) * ((WIDTH // 2) * (HEIGHT // 2))
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + y + chroma + chroma)
    return path


def camera_args(video: Path) -> list[str]:
    return ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"]
