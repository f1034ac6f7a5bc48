package serverbench

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Throughput is one create load.
type Throughput struct {
	Objects int
	Clients int
	Elapsed time.Duration
}

// PerSecond is objects created per second.
func (t Throughput) PerSecond() float64 { return float64(t.Objects) / t.Elapsed.Seconds() }

// valueSize is the data of each ConfigMap: small, like most real ones.
const valueSize = 128

// CreateConfigMaps creates objects ConfigMaps in a new namespace from clients clients, each
// with its own connection and no client-side rate limit, and times it from the first
// request to the last answer. The namespace is created before the clock starts.
func CreateConfigMaps(ctx context.Context, cfg *rest.Config, namespace string, objects, clients int) (Throughput, error) {
	t := Throughput{Objects: objects, Clients: clients}
	sets := make([]*kubernetes.Clientset, clients)
	for i := range sets {
		c := rest.CopyConfig(cfg)
		c.QPS = -1 // no client-side limiter: the server is what is measured
		// A dial function of its own keeps client-go from sharing one cached transport, so
		// every client has its own connection.
		c.Dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
		cs, err := kubernetes.NewForConfig(c)
		if err != nil {
			return t, err
		}
		sets[i] = cs
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := sets[0].CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return t, fmt.Errorf("create namespace %s: %w", namespace, err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	go func() {
		defer close(next)
		for i := 0; i < objects; i++ {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	value := strings.Repeat("x", valueSize)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	start := time.Now()
	for _, cs := range sets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cms := cs.CoreV1().ConfigMaps(namespace)
			for i := range next {
				cm := &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%06d", i)},
					Data:       map[string]string{"value": value},
				}
				if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
					once.Do(func() { first = fmt.Errorf("create ConfigMap %s/%s: %w", namespace, cm.Name, err) })
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	t.Elapsed = time.Since(start)
	return t, first
}
