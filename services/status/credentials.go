package status

import (
	"errors"

	"github.com/flusso-go/flusso/pkg/config"
)

// Credentials resolves the private surface's credentials; all empty makes
// the server generate a token.
func Credentials(cfg *config.Config, env config.LookupEnv) (token, username, password string, err error) {
	if token, _, err = cfg.Status.Token.ResolveOptional(env); err != nil {
		return "", "", "", err
	}
	if username, _, err = cfg.Status.Username.ResolveOptional(env); err != nil {
		return "", "", "", err
	}
	if password, _, err = cfg.Status.Password.ResolveOptional(env); err != nil {
		return "", "", "", err
	}
	if (username == "") != (password == "") {
		return "", "", "", errors.New("status.username and status.password go together: one of them is empty")
	}
	return token, username, password, nil
}
