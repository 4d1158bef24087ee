// Command mfaload measures POST /api/v1/auth/login/mfa against a running
// tradesense. A successful second step is single use (the mfa_token is spent
// and each TOTP step is accepted once per user), so a replaying load tool
// such as hey cannot drive it. mfaload enrols -users accounts, prepares two
// fresh mfa_tokens per account, waits for a TOTP step after the enrolment,
// then sends every second step (codes for steps c and c+1, both inside the
// ±1 window) with -c concurrent clients and reports requests/s and latency
// percentiles. Run it against a server with AUTH_IP_RATE_MULTIPLIER raised,
// since every request comes from one address. See docs/benchmarks.md.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

type user struct {
	email, secret string
	tokens        [2]string
}

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

func call(base, method, path, bearer string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}

func code(secret string, step int64) string {
	c, err := totp.GenerateCodeCustom(secret, time.Unix(step*30, 0), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		log.Fatal(err)
	}
	return c
}

// parallel runs fn for every index with c workers and stops at the first error.
func parallel(n, c int, fn func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					log.Fatal(err)
				}
			}
		})
	}
	wg.Wait()
}

func main() {
	base := flag.String("url", "http://127.0.0.1:18080", "server base URL")
	n := flag.Int("users", 500, "accounts to enrol (two measured requests each)")
	c := flag.Int("c", 32, "concurrent clients")
	flag.Parse()
	const password = "mfa load passphrase 42"
	run := time.Now().UnixNano()
	users := make([]user, *n)

	start := time.Now()
	var enrolStep atomic.Int64
	parallel(*n, *c, func(i int) error {
		u := &users[i]
		u.email = fmt.Sprintf("mfaload-%d-%d@example.test", run, i)
		if st, _, err := call(*base, "POST", "/api/v1/auth/register", "", map[string]any{"email": u.email, "password": password}); err != nil || st != 201 {
			return fmt.Errorf("register: %d %w", st, err)
		}
		st, lr, err := call(*base, "POST", "/api/v1/auth/login", "", map[string]any{"email": u.email, "password": password})
		if err != nil || st != 200 {
			return fmt.Errorf("login: %d %w", st, err)
		}
		access, _ := lr["access_token"].(string)
		st, en, err := call(*base, "POST", "/api/v1/mfa/enable", access, nil)
		if err != nil || st != 200 {
			return fmt.Errorf("enable: %d %w", st, err)
		}
		u.secret, _ = en["secret"].(string)
		step := time.Now().Unix() / 30
		if st, _, err := call(*base, "POST", "/api/v1/mfa/verify", access, map[string]any{"code": code(u.secret, step)}); err != nil || st != 200 {
			return fmt.Errorf("verify: %d %w", st, err)
		}
		for cur := enrolStep.Load(); step > cur && !enrolStep.CompareAndSwap(cur, step); cur = enrolStep.Load() {
		}
		return nil
	})
	fmt.Printf("enrolled %d accounts in %s\n", *n, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	parallel(*n, *c, func(i int) error {
		for k := range 2 {
			st, lr, err := call(*base, "POST", "/api/v1/auth/login", "", map[string]any{"email": users[i].email, "password": password})
			if err != nil || st != 200 || lr["mfa_required"] != true {
				return fmt.Errorf("first step: %d %v %w", st, lr["code"], err)
			}
			users[i].tokens[k], _ = lr["mfa_token"].(string)
		}
		return nil
	})
	fmt.Printf("prepared %d mfa_tokens in %s\n", 2**n, time.Since(start).Round(time.Millisecond))

	// Codes must come from a step after every enrolment (that step is burnt).
	for time.Now().Unix()/30 <= enrolStep.Load() {
		time.Sleep(100 * time.Millisecond)
	}
	step := time.Now().Unix() / 30
	lat := make([]time.Duration, 2**n)
	var failed atomic.Int64
	start = time.Now()
	parallel(*n, *c, func(i int) error {
		for k := range 2 { // step c, then c+1: both inside the ±1 window, in order
			t0 := time.Now()
			st, body, err := call(*base, "POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": users[i].tokens[k], "code": code(users[i].secret, step+int64(k))})
			lat[2*i+k] = time.Since(t0)
			if err != nil || st != 200 {
				failed.Add(1)
				fmt.Fprintf(os.Stderr, "login/mfa: %d %v %v\n", st, body["code"], err)
			}
		}
		return nil
	})
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	fmt.Printf("POST /api/v1/auth/login/mfa: %d requests (%d failed) in %s with %d clients: %.0f req/s; p50 %s, p90 %s, p99 %s, max %s\n",
		len(lat), failed.Load(), elapsed.Round(time.Millisecond), *c, float64(len(lat))/elapsed.Seconds(),
		pct(0.50).Round(10*time.Microsecond), pct(0.90).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	if failed.Load() > 0 {
		os.Exit(1)
	}
}
