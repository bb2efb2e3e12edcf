"""Plan images are judged by decoding them, never by their names."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image, ImageFile, PngImagePlugin
from pytest_django import Settings

from openrooms.spaces.plans import PlanImage, PlanImageError, check_plan_image


def image_bytes(fmt: str, size: tuple[int, int] = (120, 80), *, noise: bool = False) -> bytes:
    image = Image.new("RGB", size, "white")
    if noise:
        image = Image.effect_noise(size, 80).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def png(size: tuple[int, int] = (120, 80)) -> bytes:
    return image_bytes("PNG", size)


SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.cookie)</script><rect width='10' height='10'/></svg>"
)


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header claims width x height pixels, with a few bytes of data: it would
    inflate to gigabytes if anything tried to decode it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


def upload(name: str, content: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def check(name: str, content: bytes) -> PlanImage:
    file = upload(name, content)
    assert file.file is not None
    return check_plan_image(file.file, size=file.size)


def test_it_accepts_a_png_and_reads_its_size() -> None:
    checked = check("plan.png", png((300, 200)))
    assert (checked.format, checked.width, checked.height) == ("PNG", 300, 200)
    assert checked.extension == "png"


def test_it_accepts_a_png_renamed_svg_as_a_png() -> None:
    checked = check("plan.svg", png())
    assert checked.format == "PNG"
    assert checked.storage_name().endswith(".png")


@pytest.mark.parametrize(("fmt", "extension"), [("JPEG", "jpg"), ("WEBP", "webp")])
def test_it_accepts_jpeg_and_webp(fmt: str, extension: str) -> None:
    checked = check(f"plan.{extension}", image_bytes(fmt))
    assert checked.format == fmt
    assert checked.storage_name().endswith(f".{extension}")


def test_it_refuses_an_svg_renamed_png() -> None:
    with pytest.raises(PlanImageError, match="SVG"):
        check("plan.png", SVG)


def test_it_refuses_an_svg_without_an_xml_declaration() -> None:
    with pytest.raises(PlanImageError, match="SVG"):
        check("plan.png", b"\n  <svg xmlns='http://www.w3.org/2000/svg'></svg>")


def test_it_refuses_other_image_formats() -> None:
    with pytest.raises(PlanImageError, match="not a PNG, JPEG or WebP"):
        check("plan.png", image_bytes("GIF"))


def test_it_refuses_text_and_empty_files() -> None:
    with pytest.raises(PlanImageError, match="not a PNG, JPEG or WebP"):
        check("plan.png", b"just some text")
    with pytest.raises(PlanImageError, match="empty"):
        check("plan.png", b"")


def test_it_refuses_a_decompression_bomb_before_decoding_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never_decode(image: object) -> None:
        raise AssertionError("the bomb was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", never_decode)
    # 64 megapixels: over our 40 MP cap, under the size Pillow itself refuses.
    with pytest.raises(PlanImageError, match="8000 x 8000 pixels"):
        check("plan.png", bomb_png(8000, 8000))


def test_pillows_own_bomb_guard_is_a_refusal_too(settings: Settings) -> None:
    # With our cap lifted above Pillow's, its DecompressionBombError still stops the bomb.
    settings.PLAN_IMAGE_MAX_PIXELS = 10**12
    with pytest.raises(PlanImageError, match="far too many pixels"):
        check("plan.png", bomb_png())


def test_it_refuses_an_image_over_the_pixel_cap(settings: Settings) -> None:
    settings.PLAN_IMAGE_MAX_PIXELS = 100 * 100
    with pytest.raises(PlanImageError, match="101 x 100 pixels"):
        check("plan.png", png((101, 100)))
    assert check("plan.png", png((100, 100))).width == 100


def test_it_refuses_an_oversize_file(settings: Settings) -> None:
    settings.PLAN_IMAGE_MAX_BYTES = 2000
    content = image_bytes("PNG", (200, 200), noise=True)
    assert len(content) > 2000
    with pytest.raises(PlanImageError, match=r"at most 2\.0"):
        check("plan.png", content)


def test_it_refuses_a_truncated_image() -> None:
    content = image_bytes("PNG", (200, 200), noise=True)
    with pytest.raises(PlanImageError, match="could not be read"):
        check("plan.png", content[: len(content) // 2])


# What is stored: the pixels encoded again, upright, without the file's metadata.

GPS_IFD, ARTIST, ORIENTATION = 0x8825, 0x013B, 0x0112


def jpeg_with_gps(size: tuple[int, int] = (200, 100), orientation: int = 1) -> bytes:
    image = Image.effect_noise(size, 60).convert("RGB")
    exif = Image.Exif()
    exif[ARTIST] = "Alice Example"
    exif[ORIENTATION] = orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 7.0)})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, comment=b"taken at home")
    return buffer.getvalue()


def test_a_jpeg_is_stored_without_its_exif_gps_or_comment() -> None:
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)  # the input has it
    stored = Image.open(io.BytesIO(check("plan.jpg", original).content))
    assert dict(stored.getexif()) == {}
    assert "comment" not in stored.info and "exif" not in stored.info
    assert b"Alice Example" not in check("plan.jpg", original).content


def test_the_exif_orientation_is_applied_before_it_is_dropped() -> None:
    # Orientation 6: the camera was turned; the picture is shown rotated 90° clockwise.
    checked = check("plan.jpg", jpeg_with_gps((200, 100), orientation=6))
    assert (checked.width, checked.height) == (100, 200)
    assert Image.open(io.BytesIO(checked.content)).size == (100, 200)


def test_a_png_is_stored_without_its_text_chunks_and_keeps_transparency() -> None:
    image = Image.new("RGBA", (120, 80), (255, 0, 0, 0))
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Alice Example")
    info.add_itxt("Location", "48.85 N, 2.35 E")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=info)
    stored = Image.open(io.BytesIO(check("plan.png", buffer.getvalue()).content))
    assert "Author" not in stored.info and "Location" not in stored.info
    assert stored.mode == "RGBA" and stored.getpixel((0, 0)) == (255, 0, 0, 0)


def test_a_palette_png_keeps_its_colours() -> None:
    image = Image.new("P", (50, 50))
    image.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    image.paste(1, (0, 0, 25, 50))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0)
    stored = Image.open(io.BytesIO(check("plan.png", buffer.getvalue()).content))
    assert stored.convert("RGBA").getpixel((0, 0)) == (10, 200, 30, 255)
    assert stored.convert("RGBA").getpixel((40, 0)) == (0, 0, 0, 0)


@pytest.mark.parametrize("size", [(200_000, 1), (1, 5000), (2100, 100)])
def test_an_image_far_longer_than_wide_is_not_a_plan(size: tuple[int, int]) -> None:
    with pytest.raises(PlanImageError, match="more than 20 times the other"):
        check("strip.png", png(size))


def test_twenty_to_one_is_still_a_plan() -> None:
    assert check("wide.png", png((2000, 100))).width == 2000


def test_an_uploaded_jpeg_with_gps_is_served_to_members_without_it(
    admin_client, member_client, floor, settings: Settings, tmp_path
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    original = jpeg_with_gps()
    response = admin_client.post(
        reverse("plan_image_upload", args=[floor.office_id, floor.pk]),
        {"image": upload("plan.jpg", original, "image/jpeg")}, follow=True,
    )
    assert response.status_code == 200
    served = b"".join(member_client.get(reverse("plan_image", args=[floor.pk])).streaming_content)
    assert served != original
    assert dict(Image.open(io.BytesIO(served)).getexif()) == {}
    assert b"Alice Example" not in served
