package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
)

// errNoEnvCredentials is returned by sdkConfigFromEnv when the environment
// holds no access key.
var errNoEnvCredentials = errors.New("no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")

// sdkConfigFromEnv is the SDK configuration that config.LoadDefaultConfig
// makes from the environment alone, without shared config files or
// credential endpoints, and without linking them: it is the Lambda
// package's loader (variant_lambda.go), where the runtime puts the role's
// credentials and the Region in the environment. The SDK's own EnvConfig
// reads the standard variables; the clients find the service-specific ones
// (AWS_ENDPOINT_URL_S3, AWS_USE_FIPS_ENDPOINT, AWS_S3_USE_ARN_REGION, ...)
// in ConfigSources, as they do after LoadDefaultConfig.
// TestSDKConfigFromEnv holds it to LoadDefaultConfig, variable by variable.
func sdkConfigFromEnv(apiOptions []func(*middleware.Stack) error) (aws.Config, error) {
	env, err := awsconfig.NewEnvConfig()
	if err != nil {
		return aws.Config{}, err
	}
	if !env.Credentials.HasKeys() {
		return aws.Config{}, errNoEnvCredentials
	}
	cfg := aws.Config{
		Logger:        logging.NewStandardLogger(os.Stderr),
		ConfigSources: []any{env},
		APIOptions:    apiOptions,
		Region:        env.Region,
		Credentials: aws.NewCredentialsCache(credentials.StaticCredentialsProvider{
			Value: env.Credentials, Source: []aws.CredentialSource{aws.CredentialSourceEnvVars}}),
		RetryMaxAttempts:            env.RetryMaxAttempts,
		RetryMode:                   env.RetryMode,
		DefaultsMode:                aws.DefaultsModeLegacy,
		AppID:                       env.AppID,
		DisableRequestCompression:   env.DisableRequestCompression != nil && *env.DisableRequestCompression,
		DisableClockSkewCorrection:  env.DisableClockSkewCorrection != nil && *env.DisableClockSkewCorrection,
		RequestMinCompressSizeBytes: 10240,
		AccountIDEndpointMode:       aws.AccountIDEndpointModePreferred,
		RequestChecksumCalculation:  aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation:  aws.ResponseChecksumValidationWhenSupported,
		AuthSchemePreference:        env.AuthSchemePreference,
	}
	if env.DefaultsMode != "" {
		cfg.DefaultsMode = env.DefaultsMode
	}
	if cfg.DefaultsMode == aws.DefaultsModeAuto {
		// LoadDefaultConfig also asks EC2 instance metadata for its
		// Region, which no Lambda function has.
		cfg.RuntimeEnvironment = aws.RuntimeEnvironment{
			EnvironmentIdentifier: aws.ExecutionEnvironmentID(os.Getenv("AWS_EXECUTION_ENV")),
			Region:                env.Region,
		}
	}
	if env.RequestMinCompressSizeBytes != nil {
		cfg.RequestMinCompressSizeBytes = *env.RequestMinCompressSizeBytes
	}
	if env.AccountIDEndpointMode != "" {
		cfg.AccountIDEndpointMode = env.AccountIDEndpointMode
	}
	if env.RequestChecksumCalculation != aws.RequestChecksumCalculationUnset {
		cfg.RequestChecksumCalculation = env.RequestChecksumCalculation
	}
	if env.ResponseChecksumValidation != aws.ResponseChecksumValidationUnset {
		cfg.ResponseChecksumValidation = env.ResponseChecksumValidation
	}
	if env.BaseEndpoint != "" && (env.IgnoreConfiguredEndpoints == nil || !*env.IgnoreConfiguredEndpoints) {
		cfg.BaseEndpoint = aws.String(env.BaseEndpoint)
	}
	if env.CustomCABundle != "" {
		if cfg.HTTPClient, err = clientWithCABundle(env.CustomCABundle); err != nil {
			return aws.Config{}, err
		}
	}
	return cfg, nil
}

// clientWithCABundle is the SDK's HTTP client trusting the certificates
// of AWS_CA_BUNDLE instead of the system's, as LoadDefaultConfig makes it.
func clientWithCABundle(path string) (*awshttp.BuildableClient, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("AWS_CA_BUNDLE: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("AWS_CA_BUNDLE: %s holds no PEM certificate", path)
	}
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.RootCAs = pool
	}), nil
}
