//! Thumbnails of images, made once at upload: a client on a slow link (SSH
//! from a laptop) previews an image from its thumbnail, never the whole
//! file.

use std::io::Cursor;

/// The longest side of a thumbnail, in pixels.
pub const MAX_SIDE: u32 = 320;

/// Types a thumbnail is made of.
pub const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// An image's size and its thumbnail.
#[derive(Debug)]
pub struct Thumbnail {
    pub width: u32,
    pub height: u32,
    /// PNG, at most [`MAX_SIDE`] on a side.
    pub png: Vec<u8>,
}

/// Decodes an image (the first frame of an animation) and scales it down.
/// `None` for anything that does not decode, within the decoder's memory
/// limits: it stays a plain file.
#[must_use]
pub fn make(bytes: &[u8], mime: &str) -> Option<Thumbnail> {
    let format = match mime {
        "image/png" => image::ImageFormat::Png,
        "image/jpeg" => image::ImageFormat::Jpeg,
        "image/gif" => image::ImageFormat::Gif,
        "image/webp" => image::ImageFormat::WebP,
        _ => return None,
    };
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    // A crafted image may claim a huge size to make the decoder allocate
    // it: refuse those rather than try.
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(20_000);
    limits.max_image_height = Some(20_000);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let image = match reader.decode() {
        Ok(i) => i,
        Err(e) => {
            tracing::debug!(error = %e, mime, "no thumbnail: the image does not decode");
            return None;
        }
    };
    let (width, height) = (image.width(), image.height());
    let small = if width > MAX_SIDE || height > MAX_SIDE {
        image.thumbnail(MAX_SIDE, MAX_SIDE)
    } else {
        image
    };
    let mut png = Vec::new();
    small
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .ok()?;
    Some(Thumbnail { width, height, png })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 7])
        });
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_large_image_gets_a_small_thumbnail() {
        let t = make(&png(1000, 500), "image/png").unwrap();
        assert_eq!((t.width, t.height), (1000, 500));
        let back = image::load_from_memory(&t.png).unwrap();
        assert_eq!((back.width(), back.height()), (320, 160));
    }

    #[test]
    fn a_small_image_keeps_its_size_and_garbage_gets_none() {
        let t = make(&png(40, 30), "image/png").unwrap();
        let back = image::load_from_memory(&t.png).unwrap();
        assert_eq!((back.width(), back.height()), (40, 30));
        assert!(make(b"\x89PNG\r\n\x1a\nnot really", "image/png").is_none());
        assert!(make(&png(4, 4), "text/plain").is_none());
    }
}
