"""The otpauth URI as a QR code (SVG), for authenticator apps to scan."""
from __future__ import annotations

import io

import segno


def qr_svg(uri: str) -> str:
    buffer = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(buffer, kind="svg", scale=4, xmldecl=False,
                                                   svgns=True, title="TOTP setup")
    return buffer.getvalue().decode()
