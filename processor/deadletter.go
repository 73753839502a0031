package processor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/schema"
)

// MaxDeadLetterValue is the most of a rejected value a dead letter keeps.
const MaxDeadLetterValue = kafkaconf.MaxMessageBytes - recordOverhead

// maxHeader bounds the text headers of a dead letter (the details of a
// micro-batch with thousands of bad samples would not fit).
const maxHeader = 4 << 10

// clip cuts s to maxHeader bytes at a rune boundary, marking the cut.
func clip(s string) string {
	if len(s) <= maxHeader {
		return s
	}
	const more = " …(cut)"
	cut := maxHeader - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

// deadLetter sends the message of ctx, whose value is value, to the
// dead-letter topic with the reasons of its rejections in its headers.
func (h *Handler) deadLetter(ctx goka.Context, out output, value []byte, rejects []rejection) {
	idx := make([]string, 0, len(rejects))
	details := make([]string, 0, len(rejects))
	for _, r := range rejects {
		if r.index >= 0 {
			idx = append(idx, strconv.Itoa(r.index))
			details = append(details, fmt.Sprintf("sample %d: %s: %s", r.index, r.reason, r.detail))
		} else {
			details = append(details, r.reason+": "+r.detail)
		}
	}
	hd := goka.Headers{
		schema.HeaderReason:          []byte(rejects[0].reason),
		schema.HeaderError:           []byte(clip(strings.Join(details, "; "))),
		schema.HeaderSourceTopic:     []byte(ctx.Topic()),
		schema.HeaderSourcePartition: []byte(strconv.Itoa(int(ctx.Partition()))),
		schema.HeaderSourceOffset:    []byte(strconv.FormatInt(ctx.Offset(), 10)),
	}
	if len(idx) > 0 {
		hd[schema.HeaderRejected] = []byte(clip(strings.Join(idx, ",")))
	}
	if len(value) > MaxDeadLetterValue {
		// The whole value would not fit in one record: keep its head and
		// say how to find and check the original on the input topic.
		sum := sha256.Sum256(value)
		hd[schema.HeaderOriginalSize] = []byte(strconv.Itoa(len(value)))
		hd[schema.HeaderOriginalSHA256] = []byte(hex.EncodeToString(sum[:]))
		value = value[:MaxDeadLetterValue]
	}
	h.rejectLog.log(h.log(), slog.LevelWarn, h.now(), "rejected input", rejects[0].reason,
		"topic", ctx.Topic(), "partition", ctx.Partition(), "offset", ctx.Offset(),
		"key", ctx.Key(), "reason", rejects[0].reason, "detail", string(hd[schema.HeaderError]))
	out.emit(ctx, h.Names.DeadLetter, ctx.Key(), value, hd)
}
