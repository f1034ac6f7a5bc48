package token

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteTable prints join tokens the way `token list` shows them: the full token to pass with
// --token, the time left, the expiry and the description.
func WriteTable(w io.Writer, tokens []JoinToken, caHash string, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOKEN\tTTL\tEXPIRES\tDESCRIPTION")
	for _, j := range tokens {
		ttl, expires := "<forever>", "<never>"
		if !j.Expires.IsZero() {
			expires = j.Expires.Format(time.RFC3339)
			ttl = "<expired>"
			if !j.Expired(now) {
				ttl = j.Expires.Sub(now).Round(time.Second).String()
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", j.Token(caHash), ttl, expires, j.Description)
	}
	return tw.Flush()
}
