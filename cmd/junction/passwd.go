package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/junctionmq/junction/auth"
)

// maxPasswordInput bounds what passwd reads from stdin.
const maxPasswordInput = 64 << 10

func newPasswdCmd(stdout io.Writer, stdin io.Reader) *cobra.Command {
	var (
		fromStdin          bool
		cra                bool
		iterations, keylen int
	)
	cmd := &cobra.Command{
		Use:   "passwd",
		Short: "Hash a password for a user's password: field (argon2id)",
		Long: `Hash a password with argon2id (m=64 MiB, t=3, p=2) and print the PHC string,
for the password: field of a user (MQTT username/password, WAMP ticket).

With --cra, derive a salted WAMP-CRA key from the secret instead and print the
cra: block of a user (PBKDF2-HMAC-SHA256, as WAMP-CRA clients derive it).

The password is read from standard input, one line without its line ending.
On a terminal, passwd prompts for it twice without echo, unless
--password-stdin is given. The password is never taken from the command line.`,
		Example: `  junction passwd
  printf '%s\n' "$PASSWORD" | junction passwd --password-stdin
  printf '%s\n' "$SECRET" | junction passwd --cra --password-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			password, err := readPassword(stdin, cmd.ErrOrStderr(), !fromStdin)
			if err != nil {
				return err
			}
			if cra {
				k, err := auth.NewCRAKey(password, iterations, keylen)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(stdout, "cra:\n  key: %q\n  salt: %q\n  iterations: %d\n  keylen: %d\n",
					k.Key, k.Salt, k.Iterations, k.KeyLen)
				return err
			}
			hash, err := auth.HashPassword(password)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(stdout, hash)
			return err
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input without prompting, even on a terminal")
	cmd.Flags().BoolVar(&cra, "cra", false, "print a salted WAMP-CRA key (the cra: block of a user) instead of a password hash")
	cmd.Flags().IntVar(&iterations, "iterations", 1000, "PBKDF2 iterations for --cra")
	cmd.Flags().IntVar(&keylen, "keylen", 32, "derived key length in bytes for --cra")
	return cmd
}

// readPassword returns a password: prompted for twice without echo when
// prompt is true and in is a terminal, otherwise the first line of in
// without its line ending. An empty password is an error.
func readPassword(in io.Reader, prompts io.Writer, prompt bool) (string, error) {
	if f, ok := in.(*os.File); ok && prompt && term.IsTerminal(int(f.Fd())) {
		return promptPassword(int(f.Fd()), prompts)
	}
	r := bufio.NewReader(io.LimitReader(in, maxPasswordInput+1))
	line, err := r.ReadString('\n')
	switch {
	case err == io.EOF && line == "":
		return "", errors.New("no password on standard input")
	case err == io.EOF && len(line) > maxPasswordInput:
		return "", fmt.Errorf("password longer than %d bytes", maxPasswordInput)
	case err != nil && err != io.EOF:
		return "", fmt.Errorf("reading the password: %w", err)
	}
	password := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if password == "" {
		return "", errors.New("empty password")
	}
	return password, nil
}

func promptPassword(fd int, prompts io.Writer) (string, error) {
	fmt.Fprint(prompts, "Password: ")
	first, err := term.ReadPassword(fd)
	fmt.Fprintln(prompts)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if len(first) == 0 {
		return "", errors.New("empty password")
	}
	fmt.Fprint(prompts, "Again: ")
	second, err := term.ReadPassword(fd)
	fmt.Fprintln(prompts)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if !bytes.Equal(first, second) {
		return "", errors.New("the passwords differ")
	}
	return string(first), nil
}
