package httpapi

import (
	"embed"
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
type docsAssets struct {
	files map[string][]byte
}

func newDocsAssets() (*docsAssets, error) {
	a := &docsAssets{files: map[string][]byte{}}
	for _, name := range []string{"index.html", "init.js"} {
		b, err := fs.ReadFile(docsUI, "docsui/"+name)
		if err != nil {
			return nil, err
		}
		a.files[name] = b
	}
	for _, name := range []string{"swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png"} {
		b, err := fs.ReadFile(swaggerfiles.FS, name)
		if err != nil {
			return nil, err
		}
		a.files[name] = b
	}
	return a, nil
}

func (a *docsAssets) page(c *gin.Context) {
	c.Data(http.StatusOK, "text/html; charset=utf-8", a.files["index.html"])
}

func (a *docsAssets) asset(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		name := c.Param("file")
		b, ok := a.files[name]
		if !ok || name == "index.html" {
			writeProblem(c, log, apperr.New(apperr.NotFound, "not_found", "No such documentation asset."))
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
