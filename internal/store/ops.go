package store

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Op is one write of a Commit: Value encoded as JSON under Key. With IfAbsent, the
// whole Commit happens only if Key does not exist yet. With Delete, Key is removed
// instead (Value is unused).
type Op struct {
	Key      string
	Value    any
	IfAbsent bool
	Delete   bool
}

// Commit writes every op in one transaction: all of them or none. ok is false, and
// nothing is written, when the key of an IfAbsent op already exists.
func (s *Store) Commit(ctx context.Context, ops ...Op) (ok bool, err error) {
	var conds []clientv3.Cmp
	var puts []clientv3.Op
	for _, op := range ops {
		if op.Delete {
			puts = append(puts, clientv3.OpDelete(op.Key))
			continue
		}
		b, err := json.Marshal(op.Value)
		if err != nil {
			return false, fmt.Errorf("encode %s: %w", op.Key, err)
		}
		if op.IfAbsent {
			conds = append(conds, clientv3.Compare(clientv3.CreateRevision(op.Key), "=", 0))
		}
		puts = append(puts, clientv3.OpPut(op.Key, string(stamp(op.Key, b))))
	}
	r, err := s.etcdc.Txn(ctx).If(conds...).Then(puts...).Commit()
	if err != nil {
		return false, fmt.Errorf("write %d records: %w", len(ops), err)
	}
	return r.Succeeded, nil
}

// Newest decodes the last n values under prefix in key order, oldest first (keys with a
// timestamp or a zero-padded number: the newest n records). Undecodable values are skipped.
func Newest[T any](ctx context.Context, s *Store, prefix string, n int) ([]T, error) {
	r, err := s.etcdc.Get(ctx, prefix, clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(int64(n)))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	out := make([]T, 0, len(r.Kvs))
	for i := len(r.Kvs) - 1; i >= 0; i-- {
		var v T
		if Decode(string(r.Kvs[i].Key), r.Kvs[i].Value, &v) == nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// Prune deletes all but the last keep keys under prefix in key order.
func (s *Store) Prune(ctx context.Context, prefix string, keep int) error {
	r, err := s.etcdc.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(int64(keep)))
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	if len(r.Kvs) < keep {
		return nil
	}
	oldestKept := string(r.Kvs[len(r.Kvs)-1].Key)
	if _, err := s.etcdc.Delete(ctx, prefix, clientv3.WithRange(oldestKept)); err != nil {
		return fmt.Errorf("prune %s: %w", prefix, err)
	}
	return nil
}

// KV is one stored record as it is in etcd.
type KV struct {
	Key   string
	Value []byte
}

// Records returns every record under prefix in key order, undecoded (for checks that
// compare the whole state, and for copies of it).
func (s *Store) Records(ctx context.Context, prefix string) ([]KV, error) {
	r, err := s.etcdc.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	out := make([]KV, len(r.Kvs))
	for i, kv := range r.Kvs {
		out[i] = KV{Key: string(kv.Key), Value: kv.Value}
	}
	return out, nil
}
