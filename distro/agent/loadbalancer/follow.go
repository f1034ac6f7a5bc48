package loadbalancer

import (
	"context"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// Follower keeps a load balancer's servers in step with the apiservers the cluster lists as
// the endpoints of the default/kubernetes Service, so a node learns of servers that join
// after it and keeps working when the one it joined through goes away.
type Follower struct {
	lb         *LoadBalancer
	kubeconfig string
	// initial stay in the list: the server the node was pointed at is never forgotten.
	initial []string

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewFollower follows the apiservers for lb with the identity in kubeconfig (one that may
// list EndpointSlices, such as kube-proxy's).
func NewFollower(lb *LoadBalancer, kubeconfig string) *Follower {
	return &Follower{lb: lb, kubeconfig: kubeconfig, initial: lb.Servers()}
}

func (f *Follower) Name() string               { return "apiserver-endpoints" }
func (f *Follower) Init(context.Context) error { return nil }

// Start watches the kubernetes Service's EndpointSlices in the background.
func (f *Follower) Start(ctx context.Context) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", f.kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.cancel = cancel
	lw := cache.NewFilteredListWatchFromClient(cs.DiscoveryV1().RESTClient(), "endpointslices", metav1.NamespaceDefault,
		func(o *metav1.ListOptions) {
			o.LabelSelector = discoveryv1.LabelServiceName + "=kubernetes"
			o.FieldSelector = fields.Everything().String()
		})
	store, controller := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &discoveryv1.EndpointSlice{},
		ResyncPeriod:  10 * time.Minute,
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) {},
			UpdateFunc: func(any, any) {},
			DeleteFunc: func(any) {},
		},
	})
	f.wg.Go(func() { controller.RunWithContext(runCtx) })
	f.wg.Go(func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				f.lb.Update(append(slices.Clone(f.initial), servers(store.List())...))
			}
		}
	})
	return nil
}

// servers are the ready apiserver addresses (host:port) of the slices.
func servers(objs []any) []string {
	var out []string
	for _, o := range objs {
		s, ok := o.(*discoveryv1.EndpointSlice)
		if !ok {
			continue
		}
		port := 6443
		for _, p := range s.Ports {
			if p.Port != nil && (p.Name == nil || *p.Name == "https") {
				port = int(*p.Port)
			}
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				out = append(out, net.JoinHostPort(a, strconv.Itoa(port)))
			}
		}
	}
	return out
}

// Stop ends the watch.
func (f *Follower) Stop(context.Context) error {
	if f.cancel != nil {
		f.cancel()
		f.wg.Wait()
		klog.V(2).InfoS("Stopped following the apiservers")
	}
	return nil
}
