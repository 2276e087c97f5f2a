// HTTPS request loop for bench/overhead in Go (net/http over crypto/tls,
// the standard library only): CONC goroutines send requests over kept-alive
// connections (one each), as a Go SDK's client sends them, for SECS seconds.
//   goloop <port> <ca.pem> <secs> <conc> <servername> [get-path]
// Without get-path each request is a small chat completion POST.
// Prints {"requests":N,"secs":S,"rate":N/S,"errors":E}.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	port, ca, name := os.Args[1], os.Args[2], os.Args[5]
	secs, _ := strconv.ParseFloat(os.Args[3], 64)
	conc, _ := strconv.Atoi(os.Args[4])
	get := ""
	if len(os.Args) > 6 {
		get = os.Args[6]
	}
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		fmt.Fprintln(os.Stderr, "bad CA", err)
		os.Exit(2)
	}
	var d net.Dialer
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, ServerName: name},
		MaxIdleConnsPerHost: conc,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, "127.0.0.1:"+port)
		},
	}
	c := &http.Client{Transport: tr}
	url := "https://" + name + ":" + port
	payload := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	var done, errs int64
	t0 := time.Now()
	deadline := t0.Add(time.Duration(secs * float64(time.Second)))
	var wg sync.WaitGroup
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				var r *http.Response
				var err error
				if get != "" {
					r, err = c.Get(url + get)
				} else {
					r, err = c.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(payload))
				}
				if err != nil {
					atomic.AddInt64(&errs, 1)
					continue
				}
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				if r.StatusCode == 200 {
					atomic.AddInt64(&done, 1)
				} else {
					atomic.AddInt64(&errs, 1)
				}
			}
		}()
	}
	wg.Wait()
	s := time.Since(t0).Seconds()
	fmt.Printf("{\"requests\":%d,\"secs\":%.4f,\"rate\":%.1f,\"errors\":%d}\n", done, s, float64(done)/s, errs)
}
