// Command refreshload measures POST /api/v1/auth/refresh (refresh with
// rotation) against a running tradesense. A refresh token is single use, so
// a replaying load tool such as wrk or hey cannot drive it: refreshload signs
// in -c times (one session per client, against a server with
// AUTH_IP_RATE_MULTIPLIER raised, since every sign-in comes from one
// address), then each client exchanges its session's current refresh token
// for the next pair for -d, and it reports requests/s, latency percentiles
// and every non-200 answer. See docs/benchmarks.md.
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
	"time"
)

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

func post(url string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	resp, err := client.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}

func main() {
	base := flag.String("base", "http://127.0.0.1:8000", "server address")
	email := flag.String("email", "", "an existing account's email")
	conc := flag.Int("c", 32, "concurrent clients (one session each)")
	dur := flag.Duration("d", 10*time.Second, "how long to send refreshes")
	flag.Parse()
	password := os.Getenv("REFRESHLOAD_PASSWORD")
	if *email == "" || password == "" {
		log.Fatal("need -email and REFRESHLOAD_PASSWORD")
	}

	tokens := make([]string, *conc)
	for i := range tokens {
		st, out, err := post(*base+"/api/v1/auth/login", map[string]string{"email": *email, "password": password})
		if err != nil || st != http.StatusOK {
			log.Fatalf("sign-in %d: status %d, %v", i, st, err)
		}
		t, _ := out["refresh_token"].(string)
		if t == "" {
			log.Fatalf("sign-in %d: no refresh_token in the answer", i)
		}
		tokens[i] = t
	}

	var (
		mu     sync.Mutex
		lat    []time.Duration
		failed = map[int]int{}
		wg     sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(*dur)
	for i := range tokens {
		wg.Go(func() {
			var mine []time.Duration
			bad := map[int]int{}
			t := tokens[i]
			for time.Now().Before(end) {
				t0 := time.Now()
				st, out, err := post(*base+"/api/v1/auth/refresh", map[string]string{"refresh_token": t})
				d := time.Since(t0)
				if err != nil {
					log.Printf("client %d: %v", i, err)
					bad[-1]++
					break
				}
				next, _ := out["refresh_token"].(string)
				if st != http.StatusOK || next == "" {
					bad[st]++
					break // the chain is broken: this client stops
				}
				mine = append(mine, d)
				t = next
			}
			mu.Lock()
			lat = append(lat, mine...)
			for k, v := range bad {
				failed[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	fmt.Printf("refresh with rotation, %d clients, %s: %d ok, %.0f req/s, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms, failed %v\n",
		*conc, elapsed.Round(time.Millisecond), len(lat), float64(len(lat))/elapsed.Seconds(),
		ms(pct(0.50)), ms(pct(0.90)), ms(pct(0.99)), ms(pct(1)), failed)
	if len(failed) > 0 {
		os.Exit(1)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
