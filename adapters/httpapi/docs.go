package httpapi

import (
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"

	"github.com/gin-gonic/gin"
	swaggerfiles "github.com/swaggo/files/v2"

	"github.com/tradesense/tradesense/core/apperr"
)

//go:embed docsui
var docsUI embed.FS

// docsAssets are the files the reference page loads, all embedded in the
// binary: ours (the page and its start script) and Swagger UI's dist files.
// They are read from the embedded file systems on request, so the 1.5 MB of
// Swagger UI costs no memory until someone opens /docs.
type docsAssets struct {
	files map[string]fs.FS // asset name -> the file system holding it
}

func newDocsAssets() (*docsAssets, error) {
	ours, err := fs.Sub(docsUI, "docsui")
	if err != nil {
		return nil, err
	}
	a := &docsAssets{files: map[string]fs.FS{}}
	for _, name := range []string{"index.html", "init.js"} {
		a.files[name] = ours
	}
	for _, name := range []string{"swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png"} {
		a.files[name] = swaggerfiles.FS
	}
	for name, fsys := range a.files {
		if _, err := fs.Stat(fsys, name); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *docsAssets) read(name string) ([]byte, error) {
	return fs.ReadFile(a.files[name], name)
}

func (a *docsAssets) page(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		b, err := a.read("index.html")
		if err != nil {
			writeProblem(c, log, fmt.Errorf("docs page: %w", err))
			return
		}
		c.Data(http.StatusOK, "text/html; charset=utf-8", b)
	}
}

func (a *docsAssets) asset(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		name := c.Param("file")
		if _, ok := a.files[name]; !ok || name == "index.html" {
			writeProblem(c, log, apperr.New(apperr.NotFound, "not_found", "No such documentation asset."))
			return
		}
		b, err := a.read(name)
		if err != nil {
			writeProblem(c, log, fmt.Errorf("docs asset %s: %w", name, err))
			return
		}
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		c.Header("Cache-Control", "public, max-age=86400")
		c.Data(http.StatusOK, ct, b)
	}
}
