package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cent "github.com/centrifugal/centrifuge-go"

	"github.com/tradesense/tradesense/adapters/centrifuge"
)

// apiIdle measures a running `tradesense api` (its own process, pid):
// idle connections of real users through the whole server (Gin, its
// middleware, the token endpoint, identity's session check on connect),
// and the RSS of that process before and after them.
func apiIdle(args []string) error {
	fs := flag.NewFlagSet("api", flag.ExitOnError)
	base := fs.String("url", "http://127.0.0.1:8097", "the API's base URL (loopback)")
	pid := fs.Int("pid", 0, "the API's process id (its RSS is read from /proc)")
	usersFlag := fs.String("users", "rt%d@example.com:10", "email pattern and count of existing users")
	password := fs.String("password", "", "their password")
	n := fs.Int("n", 10000, "idle connections (at most 15000), spread over the users")
	hold := fs.Duration("hold", 60*time.Second, "idle time before the second reading")
	_ = fs.Parse(args)
	if *pid <= 0 || *n < 1 || *n > 15000 || *hold > 10*time.Minute || !strings.HasPrefix(*base, "http://127.0.0.1:") {
		return errors.New("-pid required, -n from 1 to 15000, -hold at most 10m, -url on 127.0.0.1")
	}
	pattern, count, ok := strings.Cut(*usersFlag, ":")
	users, err := strconv.Atoi(count)
	if !ok || err != nil || users < 1 {
		return errors.New("-users PATTERN:COUNT")
	}
	var tokens []string
	for i := range users {
		tok, err := login(*base, fmt.Sprintf(pattern, i), *password)
		if err != nil {
			return err
		}
		tokens = append(tokens, tok)
	}
	before := procRSS(*pid)
	ws := "ws" + strings.TrimPrefix(*base, "http") + centrifuge.Path
	clients := make([]*cent.Client, *n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var failed atomic.Int64
	began := time.Now()
	for i := range clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := dialAPI(ws, *base, tokens[i%len(tokens)])
			if err != nil {
				failed.Add(1)
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	defer closeAll(clients)
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d connections failed", f, *n)
	}
	fmt.Printf("opened %d connections in %s\n", *n, time.Since(began).Round(time.Millisecond))
	time.Sleep(5 * time.Second)
	settled := procRSS(*pid)
	time.Sleep(*hold)
	after := procRSS(*pid)
	per := func(a, b int64) float64 { return float64(b-a) / float64(*n) / 1024 }
	fmt.Printf("api RSS: %.1f MiB before, %.1f MiB 5s after connecting (%.1f KiB per connection), %.1f MiB after %s idle (%.1f KiB per connection)\n",
		mib(before), mib(settled), per(before, settled), mib(after), *hold, per(before, after))
	return nil
}

func login(base, email, password string) (string, error) {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp, err := http.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(b)) //nolint:gosec,noctx // loopback
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		return "", fmt.Errorf("login %s: %d", email, resp.StatusCode)
	}
	return body.AccessToken, nil
}

func dialAPI(ws, base, access string) (*cent.Client, error) {
	getToken := func() (string, error) {
		req, _ := http.NewRequest("POST", base+"/api/v1/realtime/token", nil) //nolint:noctx // loopback
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var body struct {
			Token string `json:"token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Token == "" {
			return "", fmt.Errorf("token: %d", resp.StatusCode)
		}
		return body.Token, nil
	}
	return dialCent(ws, getToken, func(c *cent.Client, ready func()) {
		c.OnSubscribed(func(cent.ServerSubscribedEvent) { ready() })
	})
}

// procRSS reads VmRSS of pid from /proc (Linux).
func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb int64
			_, _ = fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%d", &kb)
			return kb << 10
		}
	}
	return -1
}
