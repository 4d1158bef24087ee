package journal

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"testing"

	"golang.org/x/image/webp"

	"github.com/tradesense/tradesense/core/apperr"
)

func testImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 5), 90, 255})
		}
	}
	return img
}

// jpegWithEXIF returns a JPEG carrying an APP1 Exif segment with GPS
// coordinates and a camera name, and a COM comment.
func jpegWithEXIF(t testing.TB) []byte {
	t.Helper()
	var plain bytes.Buffer
	if err := jpeg.Encode(&plain, testImage(32, 24), nil); err != nil {
		t.Fatal(err)
	}
	payload := append([]byte("Exif\x00\x00"), []byte("MM\x00\x2aGPSLatitude=48.8584N GPSLongitude=2.2945E Model=SecretCam")...)
	seg := []byte{0xff, 0xe1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	seg = append(seg, payload...)
	com := []byte{0xff, 0xfe, 0, 0}
	binary.BigEndian.PutUint16(com[2:], uint16(len("my home")+2))
	com = append(com, "my home"...)
	b := plain.Bytes()
	out := append([]byte{}, b[:2]...) // SOI
	out = append(out, seg...)
	out = append(out, com...)
	return append(out, b[2:]...)
}

func TestSanitizeStripsEXIFFromJPEG(t *testing.T) {
	in := jpegWithEXIF(t)
	if !bytes.Contains(in, []byte("GPSLatitude")) {
		t.Fatal("fixture lacks its EXIF")
	}
	if _, err := jpeg.Decode(bytes.NewReader(in)); err != nil {
		t.Fatalf("fixture is not a JPEG: %v", err)
	}
	img, err := SanitizeImage(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Exif", "GPS", "SecretCam", "my home"} {
		if bytes.Contains(img.Data, []byte(s)) {
			t.Errorf("sanitised JPEG still contains %q", s)
		}
	}
	if img.ContentType != "image/jpeg" || img.Width != 32 || img.Height != 24 {
		t.Fatalf("image = %s %d×%d", img.ContentType, img.Width, img.Height)
	}
	if _, err := jpeg.Decode(bytes.NewReader(img.Data)); err != nil {
		t.Fatalf("output does not decode: %v", err)
	}
}

func TestSanitizePNGDropsTextChunks(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage(8, 8)); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// Insert a tEXt chunk after IHDR (8 signature + 25 IHDR bytes).
	text := []byte("Comment\x00taken at home")
	chunk := make([]byte, 4)
	binary.BigEndian.PutUint32(chunk, uint32(len(text)))
	chunk = append(chunk, "tEXt"...)
	chunk = append(chunk, text...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	in := append(append(append([]byte{}, b[:33]...), chunk...), b[33:]...)
	in = append(in, []byte("trailing payload")...)
	img, err := SanitizeImage(in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(img.Data, []byte("taken at home")) || bytes.Contains(img.Data, []byte("trailing payload")) || img.ContentType != "image/png" {
		t.Fatalf("PNG kept its text or trailer (%s)", img.ContentType)
	}
}

func TestSanitizeRefuses(t *testing.T) {
	var huge bytes.Buffer
	_ = png.Encode(&huge, image.NewGray(image.Rect(0, 0, MaxImageSide+1, 1)))
	cases := map[string]struct {
		data []byte
		code string
	}{
		"text":          {[]byte("hello, I am a PNG, trust me"), CodeNotAnImage},
		"gif":           {[]byte("GIF89a\x01\x00\x01\x00"), CodeNotAnImage},
		"truncated png": {[]byte("\x89PNG\r\n\x1a\n\x00\x00"), CodeNotAnImage},
		"fake webp":     {[]byte("RIFF\x10\x00\x00\x00WEBPVP8 junk"), CodeNotAnImage},
		"too wide":      {huge.Bytes(), CodeTooManyPixels},
	}
	for name, c := range cases {
		if _, err := SanitizeImage(c.data); !apperr.Is(err, apperr.Invalid) || apperr.CodeOf(err) != c.code {
			t.Errorf("%s: %v; want %s", name, err, c.code)
		}
	}
}

// FuzzSanitizeImage: no input panics, and what is accepted decodes as the
// type it claims.
func FuzzSanitizeImage(f *testing.F) {
	var p bytes.Buffer
	_ = png.Encode(&p, testImage(3, 2))
	f.Add(p.Bytes())
	f.Add(jpegWithEXIF(f))
	f.Add([]byte("RIFF\x10\x00\x00\x00WEBPVP8L"))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := SanitizeImage(data)
		if err != nil {
			return
		}
		if Sniff(img.Data) == "" || img.Width <= 0 {
			t.Fatalf("accepted output %s %d×%d does not sniff", img.ContentType, img.Width, img.Height)
		}
	})
}

func TestSanitizeWebPBecomesPNG(t *testing.T) {
	in, err := os.ReadFile("testdata/blue-purple-pink.lossy.webp")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := webp.DecodeConfig(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	img, err := SanitizeImage(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := png.Decode(bytes.NewReader(img.Data))
	if err != nil || img.ContentType != "image/png" || img.Ext != "png" || out.Bounds().Dx() != cfg.Width || out.Bounds().Dy() != cfg.Height {
		t.Fatalf("WebP → %s %d×%d, %v", img.ContentType, img.Width, img.Height, err)
	}
}
