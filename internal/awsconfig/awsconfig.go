// Package awsconfig loads the standard AWS configuration (AWS_* environment,
// shared profile, instance role) with a region and credentials override, for
// every AWS client ezlive makes (SQS in queue/, S3 in origin/).
package awsconfig

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Load returns the standard configuration; region and creds override it
// when set. what names the client in errors ("sqs", "s3").
func Load(ctx context.Context, what, region string, creds aws.CredentialsProvider) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if creds != nil {
		opts = append(opts, config.WithCredentialsProvider(creds))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("%s: load AWS config: %w", what, err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("%s: %w", what, errNoRegion)
	}
	return cfg, nil
}

var errNoRegion = errors.New("no region: set AWS_REGION or the client's region flag")
