// Command ezlive is the whole platform in one binary: run `ezlive help`.
package main

import (
	"os"

	"github.com/ezlivestreaming/ezlive/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
