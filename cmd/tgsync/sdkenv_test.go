package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/tgsync/tgsync/elbv2"
)

// isolateAWSEnv clears every AWS_ variable of the test process and points
// the shared files at nothing, so that LoadDefaultConfig sees the
// environment the test sets and nothing of the machine.
func isolateAWSEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "no-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "no-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// sdkView is what an SDK configuration decides, as the test compares it:
// the configuration's fields and what the elbv2 and S3 clients built from
// it resolve, including what they read from ConfigSources.
type sdkView struct {
	Region, AppID, Logger                                 string
	BaseEndpoint                                          *string
	RetryMaxAttempts                                      int
	RetryMode                                             aws.RetryMode
	DefaultsMode                                          aws.DefaultsMode
	Runtime                                               aws.RuntimeEnvironment
	DisableRequestCompression, DisableClockSkewCorrection bool
	RequestMinCompressSizeBytes                           int64
	AccountIDEndpointMode                                 aws.AccountIDEndpointMode
	RequestChecksum                                       aws.RequestChecksumCalculation
	ResponseChecksum                                      aws.ResponseChecksumValidation
	AuthSchemePreference                                  []string
	Credentials                                           aws.Credentials
	CustomRootCAs                                         bool
	APIOptions                                            int

	ELBEndpoint      *string
	ELBEndpointOpts  elasticloadbalancingv2.EndpointResolverOptions
	ELBRetryer       string
	ELBMaxAttempts   int
	S3Endpoint       *string
	S3EndpointOpts   s3.EndpointResolverOptions
	S3UseARNRegion   bool
	S3NoMRAP         bool
	S3NoExpressAuth  *bool
	S3RequestSum     aws.RequestChecksumCalculation
	DescribeRequests []string
}

func viewOf(t *testing.T, cfg aws.Config, bundle *x509.CertPool, record func(aws.Config) []string) sdkView {
	t.Helper()
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatalf("retrieve credentials: %v", err)
	}
	// creds.Source names the provider, the same in both (EnvConfigCredentials).
	v := sdkView{
		Region: cfg.Region, AppID: cfg.AppID, Logger: fmt.Sprintf("%T", cfg.Logger), BaseEndpoint: cfg.BaseEndpoint,
		RetryMaxAttempts: cfg.RetryMaxAttempts, RetryMode: cfg.RetryMode, DefaultsMode: cfg.DefaultsMode, Runtime: cfg.RuntimeEnvironment,
		DisableRequestCompression: cfg.DisableRequestCompression, DisableClockSkewCorrection: cfg.DisableClockSkewCorrection,
		RequestMinCompressSizeBytes: cfg.RequestMinCompressSizeBytes, AccountIDEndpointMode: cfg.AccountIDEndpointMode,
		RequestChecksum: cfg.RequestChecksumCalculation, ResponseChecksum: cfg.ResponseChecksumValidation,
		AuthSchemePreference: cfg.AuthSchemePreference, Credentials: creds, APIOptions: len(cfg.APIOptions),
	}
	if c, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok && bundle != nil {
		v.CustomRootCAs = c.GetTransport().TLSClientConfig.RootCAs.Equal(bundle)
	}
	eo := elasticloadbalancingv2.NewFromConfig(cfg).Options()
	v.ELBEndpoint, v.ELBEndpointOpts, v.ELBRetryer, v.ELBMaxAttempts = eo.BaseEndpoint, eo.EndpointOptions, fmt.Sprintf("%T", eo.Retryer), eo.Retryer.MaxAttempts()
	v.ELBEndpointOpts.Logger = nil
	so := s3.NewFromConfig(cfg).Options()
	v.S3Endpoint, v.S3EndpointOpts, v.S3UseARNRegion, v.S3NoMRAP, v.S3NoExpressAuth, v.S3RequestSum = so.BaseEndpoint, so.EndpointOptions,
		so.UseARNRegion, so.DisableMultiRegionAccessPoints, so.DisableS3ExpressSessionAuth, so.RequestChecksumCalculation
	v.S3EndpointOpts.Logger = nil
	v.DescribeRequests = record(cfg)
	return v
}

// elbRecorder is a loopback ELB endpoint that refuses every request and
// remembers how it was made: host, path, the signature's scope and the
// user agent's app ID.
type elbRecorder struct {
	url string
	mu  sync.Mutex
	got []string
}

func newELBRecorder(t *testing.T) *elbRecorder {
	r := &elbRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ...
		_, cred, _ := strings.Cut(req.Header.Get("Authorization"), "Credential=")
		cred, _, _ = strings.Cut(cred, ",")
		scope := strings.Split(cred, "/")
		if len(scope) == 5 {
			scope = slices.Delete(scope, 1, 2) // the date
		}
		app := ""
		if i := strings.Index(req.Header.Get("User-Agent"), "app/"); i >= 0 {
			app = strings.Fields(req.Header.Get("User-Agent")[i:])[0]
		}
		r.mu.Lock()
		r.got = append(r.got, req.Method+" "+req.Host+req.URL.Path+" "+strings.Join(scope, "/")+" "+app)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>refused by the test</Message></Error></ErrorResponse>`)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// record makes one DescribeTargetGroups call with cfg when its ELB
// endpoint is the recorder, and returns what the recorder saw.
func (r *elbRecorder) record(t *testing.T) func(aws.Config) []string {
	return func(cfg aws.Config) []string {
		c := elasticloadbalancingv2.NewFromConfig(cfg)
		if e := c.Options().BaseEndpoint; e == nil || *e != r.url {
			return nil // never a request beyond loopback
		}
		r.mu.Lock()
		r.got = nil
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.DescribeTargetGroups(ctx, &elasticloadbalancingv2.DescribeTargetGroupsInput{}); err == nil || !strings.Contains(err.Error(), "refused by the test") {
			t.Errorf("DescribeTargetGroups = %v, want the recorder's refusal", err)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.got
	}
}

// writeCABundle writes a PEM file with a new self-signed certificate and
// returns its path and the pool it makes.
func writeCABundle(t *testing.T) (string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tgsync test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return path, pool
}

// TestSDKConfigFromEnv holds the Lambda package's loader to the SDK's
// LoadDefaultConfig: for each environment, without shared config files,
// both must give the same settings, the clients built from them must
// resolve the same endpoints and options, and a call must go to the same
// place with the same signature scope.
func TestSDKConfigFromEnv(t *testing.T) {
	rec := newELBRecorder(t)
	bundle, pool := writeCABundle(t)
	keys := map[string]string{"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token"}
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"the Lambda runtime's variables", map[string]string{"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1",
			"AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023", "AWS_LAMBDA_FUNCTION_NAME": "tgsync",
			"AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2": rec.url}},
		{"one endpoint for every service", map[string]string{"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": rec.url}},
		{"service endpoints beat the global one", map[string]string{"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
			"AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2": rec.url, "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9/s3"}},
		{"configured endpoints ignored", map[string]string{"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": rec.url,
			"AWS_ENDPOINT_URL_S3": rec.url, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}},
		{"no Region", map[string]string{"AWS_ENDPOINT_URL": rec.url}},
		{"AWS_DEFAULT_REGION alone", map[string]string{"AWS_DEFAULT_REGION": "ap-northeast-1"}},
		{"retries", map[string]string{"AWS_REGION": "us-east-1", "AWS_RETRY_MODE": "adaptive", "AWS_MAX_ATTEMPTS": "7"}},
		{"FIPS and dual-stack", map[string]string{"AWS_REGION": "us-gov-west-1", "AWS_USE_FIPS_ENDPOINT": "true", "AWS_USE_DUALSTACK_ENDPOINT": "true"}},
		{"defaults mode", map[string]string{"AWS_REGION": "us-east-1", "AWS_DEFAULTS_MODE": "in-region"}},
		{"defaults mode auto", map[string]string{"AWS_REGION": "us-east-1", "AWS_DEFAULTS_MODE": "auto", "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023"}},
		{"request settings", map[string]string{"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": rec.url, "AWS_SDK_UA_APP_ID": "tgsync-test",
			"AWS_DISABLE_REQUEST_COMPRESSION": "true", "AWS_REQUEST_MIN_COMPRESSION_SIZE_BYTES": "100", "AWS_DISABLE_CLOCK_SKEW_CORRECTION": "true",
			"AWS_ACCOUNT_ID": "111122223333", "AWS_ACCOUNT_ID_ENDPOINT_MODE": "required", "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
			"AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required", "AWS_AUTH_SCHEME_PREFERENCE": "sigv4a, sigv4"}},
		{"S3 settings", map[string]string{"AWS_REGION": "us-east-1", "AWS_S3_USE_ARN_REGION": "true",
			"AWS_S3_DISABLE_MULTIREGION_ACCESS_POINTS": "true", "AWS_S3_DISABLE_EXPRESS_SESSION_AUTH": "true"}},
		{"CA bundle", map[string]string{"AWS_REGION": "us-east-1", "AWS_CA_BUNDLE": bundle}},
		{"older key names", map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
			"AWS_ACCESS_KEY": "AKIDOLD", "AWS_SECRET_KEY": "old"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateAWSEnv(t)
			for k, v := range keys {
				t.Setenv(k, v)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			opts := []func(*middleware.Stack) error{elbv2.CountCalls(func(string, string) {})}
			want, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithAPIOptions(opts))
			if err != nil {
				t.Fatalf("LoadDefaultConfig: %v", err)
			}
			got, err := sdkConfigFromEnv(opts)
			if err != nil {
				t.Fatalf("sdkConfigFromEnv: %v", err)
			}
			w, g := viewOf(t, want, pool, rec.record(t)), viewOf(t, got, pool, rec.record(t))
			if !reflect.DeepEqual(g, w) {
				t.Errorf("sdkConfigFromEnv gives\n%+v\nLoadDefaultConfig gives\n%+v", g, w)
			}
			if strings.Contains(tc.name, "endpoint") && len(w.DescribeRequests) == 0 && w.ELBEndpoint != nil {
				t.Errorf("no request reached the recorder")
			}
		})
	}
}

// TestSDKConfigFromEnvErrors: a variable the SDK refuses is refused by
// both loaders; an environment without keys is refused by the Lambda
// package's loader, which has no other source.
func TestSDKConfigFromEnvErrors(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, key, value string
		want             string // in sdkConfigFromEnv's error
	}{
		{"bad max attempts", "AWS_MAX_ATTEMPTS", "many", "AWS_MAX_ATTEMPTS"},
		{"bad retry mode", "AWS_RETRY_MODE", "sometimes", "sometimes"},
		{"bad FIPS flag", "AWS_USE_FIPS_ENDPOINT", "maybe", "AWS_USE_FIPS_ENDPOINT"},
		{"missing CA bundle", "AWS_CA_BUNDLE", "/nonexistent/ca.pem", "AWS_CA_BUNDLE"},
		{"CA bundle without a certificate", "AWS_CA_BUNDLE", garbage, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateAWSEnv(t)
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
			t.Setenv("AWS_REGION", "us-east-1")
			t.Setenv(tc.key, tc.value)
			if _, err := awsconfig.LoadDefaultConfig(context.Background()); err == nil {
				t.Errorf("LoadDefaultConfig accepts %s=%s", tc.key, tc.value)
			}
			_, err := sdkConfigFromEnv(nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("sdkConfigFromEnv: %v, want an error with %q", err, tc.want)
			}
		})
	}
	t.Run("no keys", func(t *testing.T) {
		isolateAWSEnv(t)
		t.Setenv("AWS_REGION", "us-east-1")
		t.Setenv("AWS_PROFILE", "admin")
		if _, err := sdkConfigFromEnv(nil); !errors.Is(err, errNoEnvCredentials) {
			t.Errorf("sdkConfigFromEnv without keys: %v, want %v", err, errNoEnvCredentials)
		}
	})
}
