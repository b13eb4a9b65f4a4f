package main_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
)

// jail serve --tls-cert/--tls-key serves the API over TLS on loopback, as
// the ordinary user, and a run goes through it.
func TestServeTLS(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	certPEM, keyPEM, pool := selfSigned(t)
	cert := j.Fixture(t, "tls/cert.pem", string(certPEM), 0o644)
	key := j.Fixture(t, "tls/key.pem", string(keyPEM), 0o600)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	srv := j.Start(t, testutil.Opts{}, "serve", "--limits=host", "--listen", addr, "--tls-cert", cert, "--tls-key", key, "--parallel", "1")
	defer func() {
		_ = srv.Cmd.Process.Signal(syscall.SIGTERM)
		res, err := srv.WaitErr()
		require.NoError(t, err)
		assert.Equal(t, 0, res.ExitCode, "SIGTERM ends the server cleanly: %s", res.Stderr)
	}()

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	require.Eventually(t, func() bool {
		resp, err := client.Get("https://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 20*time.Second, 50*time.Millisecond, "the server answers over TLS")

	plain, err := http.Get("http://" + addr + "/healthz")
	if err == nil {
		plain.Body.Close()
		assert.Equal(t, http.StatusBadRequest, plain.StatusCode, "plain HTTP to a TLS port is refused")
	}

	resp, err := client.Post("https://"+addr+"/v1/runs?wait=30s", "application/json",
		strings.NewReader(`{"steps":[{"argv":["/bin/echo","-n","over tls"]}]}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var v struct {
		State  string `json:"state"`
		Result struct {
			Verdict string `json:"verdict"`
			Run     struct {
				Output struct {
					Text string `json:"text"`
				} `json:"output"`
			} `json:"run"`
		} `json:"result"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	assert.Equal(t, "done", v.State)
	assert.Equal(t, "OK", v.Result.Verdict)
	assert.Equal(t, "over tls", v.Result.Run.Output.Text)
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jail serve test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	parsed, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(parsed)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), pool
}
