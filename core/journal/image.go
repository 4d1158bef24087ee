package journal

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"

	"golang.org/x/image/webp"

	"github.com/tradesense/tradesense/core/apperr"
)

// Bounds of an attachment image.
const (
	DefaultMaxImageBytes = 5 << 20
	MaxImageSide         = 16384
	MaxImagePixels       = 40_000_000 // decoded RGBA stays under 160 MB
	jpegQuality          = 90
)

// Image is an attachment image after sanitising: re-encoded from its
// decoded pixels, so that nothing but pixels survives (no EXIF, GPS, XMP,
// ICC, comments or bytes hidden after the image).
type Image struct {
	Data        []byte
	ContentType string // image/png or image/jpeg
	Ext         string // "png" or "jpg"
	Width       int
	Height      int
}

// Sniff names the image format of data from its first bytes (never from a
// file name or a client's content type): "png", "jpeg", "webp" or "".
func Sniff(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		return "jpeg"
	case len(data) >= 12 && bytes.Equal(data[:4], []byte("RIFF")) && bytes.Equal(data[8:12], []byte("WEBP")):
		return "webp"
	}
	return ""
}

func notImage(why string) error {
	return apperr.New(apperr.Invalid, CodeNotAnImage, "the file is not a PNG, JPEG or WebP image: "+why)
}

// SanitizeImage checks that data is a PNG, JPEG or WebP image of sane
// dimensions and re-encodes it with the standard library: PNG as PNG, JPEG
// as JPEG (quality 90), and WebP as PNG (there is no pure-Go WebP encoder;
// PNG keeps its pixels losslessly). Fails with apperr.Invalid
// "attachment_not_an_image" or "attachment_too_many_pixels".
func SanitizeImage(data []byte) (Image, error) {
	format := Sniff(data)
	if format == "" {
		return Image{}, notImage("unrecognised content")
	}
	var cfg image.Config
	var err error
	switch format {
	case "png":
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	case "jpeg":
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	default:
		cfg, err = webp.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil {
		return Image{}, notImage("the header does not decode")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > MaxImageSide || cfg.Height > MaxImageSide || cfg.Width*cfg.Height > MaxImagePixels {
		return Image{}, apperr.New(apperr.Invalid, CodeTooManyPixels,
			fmt.Sprintf("the image is %d×%d: at most %d pixels a side and %d in all", cfg.Width, cfg.Height, MaxImageSide, MaxImagePixels))
	}
	var img image.Image
	switch format {
	case "png":
		img, err = png.Decode(bytes.NewReader(data))
	case "jpeg":
		img, err = jpeg.Decode(bytes.NewReader(data))
	default:
		img, err = webp.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return Image{}, notImage("the pixels do not decode")
	}
	var out bytes.Buffer
	res := Image{Width: cfg.Width, Height: cfg.Height}
	if format == "jpeg" {
		err = jpeg.Encode(&out, img, &jpeg.Options{Quality: jpegQuality})
		res.ContentType, res.Ext = "image/jpeg", "jpg"
	} else {
		err = (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode(&out, img)
		res.ContentType, res.Ext = "image/png", "png"
	}
	if err != nil {
		return Image{}, fmt.Errorf("journal: re-encode the image: %w", err)
	}
	res.Data = out.Bytes()
	return res, nil
}
