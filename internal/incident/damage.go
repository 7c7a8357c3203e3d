package incident

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/store"
)

// DamagedDir is where records of the store that do not decode are copied, in Dir
// (DATA/incidents/damaged).
const DamagedDir = "damaged"

// decodeIncidents decodes the incidents' records. One that does not decode (edited by
// hand, or garbled) is skipped, logged with a copy of its bytes kept, and its id stays
// taken: one bad record does not stop the server, nor hide the others, nor is it
// overwritten by a new incident. A record in a newer format than this tend reads is an
// error: the newer tend reads it.
func (m *Manager) decodeIncidents(recs []store.KV, logIt bool) (list []Incident, maxID int, err error) {
	for _, kv := range recs {
		id, _ := strconv.Atoi(strings.TrimPrefix(kv.Key, store.IncidentsPrefix))
		maxID = max(maxID, id)
		var in Incident
		err := store.Decode(kv.Key, kv.Value, &in)
		if err == nil {
			list = append(list, in)
			maxID = max(maxID, in.ID)
			continue
		}
		var newer *store.FormatError
		if errors.As(err, &newer) {
			return nil, 0, err
		}
		if logIt {
			m.log.Error("an incident's record does not decode; tend starts without it, and its id stays taken",
				append(m.setAside(kv, "incident-"+strconv.Itoa(id)), "key", kv.Key, "err", err.Error(),
					"wayOut", "nothing stops; to see it again, fix the copy and put it back under its key with etcdctl, or delete the key")...)
		}
	}
	return list, maxID, nil
}

// damagedRemediation is the remediation state when its record does not decode: off, as
// the kill switch may have been, until someone turns it on again.
func (m *Manager) damagedRemediation(kv store.KV, err error) Remediation {
	m.log.Error("the remediation state does not decode; remediation is off until you turn it on again (tend remediation on), which writes a new state",
		append(m.setAside(kv, "remediation"), "key", kv.Key, "err", err.Error())...)
	return Remediation{Enabled: false, ChangedBy: "tend: the stored remediation state did not decode", ChangedAt: time.Now().UTC()}
}

// setAside writes a copy of a record's bytes into Dir/damaged and returns the log
// attributes that say where.
func (m *Manager) setAside(kv store.KV, name string) []any {
	if m.o.Dir == "" {
		return nil
	}
	dir := filepath.Join(m.o.Dir, DamagedDir)
	path := filepath.Join(dir, name+".json")
	err := os.MkdirAll(dir, 0o700)
	if err == nil {
		err = os.WriteFile(path, kv.Value, 0o600)
	}
	if err != nil {
		return []any{"copy", fmt.Sprintf("none: %v", err)}
	}
	return []any{"copy", path}
}
