package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/distro-io/distro/conformance/binaries"
)

// debianSuite is the Debian release the images are built on: upstream's glibc-dns-testing is
// built on its slim image.
const debianSuite = "bookworm"

// agnhostRootfs stands in for upstream's Alpine base with the packages its Dockerfile adds:
// dig (bind-tools), curl, nc (netcat-openbsd), ss (iproute2), ipcs (util-linux, Essential),
// iperf, bash, socat. The user and group are the ones its Dockerfile adds for the
// SupplementalGroups tests.
var agnhostRootfs = Debian{
	Suite:    debianSuite,
	Packages: []string{"dnsutils", "curl", "netcat-openbsd", "iproute2", "iperf", "socat"},
	Users:    []string{"user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh"},
	Groups:   []string{"user-defined-in-image:x:1000:", "group-defined-in-image:x:50000:user-defined-in-image"},
}

// glibcDNSRootfs is upstream's glibc-dns-testing: Debian with dnsutils.
var glibcDNSRootfs = Debian{Suite: debianSuite, Packages: []string{"dnsutils"}}

// nginxRootfs is Debian with its nginx, for upstream's nginx images (Alpine's nginx).
var nginxRootfs = Debian{Suite: debianSuite, Packages: []string{"nginx-light"}}

// agnhost files read from upstream's test/images.
var (
	agnhostFiles = []string{"test/images/agnhost/porter/localhost.crt", "test/images/agnhost/porter/localhost.key"}
	kittenFiles  = []string{"test/images/kitten/html/kitten.jpg", "test/images/kitten/html/data.json"}
	nautilusFile = []string{"test/images/nautilus/html/nautilus.jpg", "test/images/nautilus/html/data.json"}
)

var groups = []group{
	{
		name:   "busybox",
		ids:    []string{"BusyBox"},
		inputs: busyboxInputs,
		build: func(ctx context.Context, b *builder) (map[string]v1.Image, error) {
			img, err := b.busyboxImage(ctx)
			if err != nil {
				return nil, err
			}
			return map[string]v1.Image{"BusyBox": img}, nil
		},
	},
	{
		name: "agnhost",
		ids:  []string{"Agnhost", "AgnhostPrev", "Kitten", "Nautilus"},
		inputs: func(ctx context.Context, b *builder) (any, error) {
			bin, err := b.binaryKey(ctx, binaries.Agnhost)
			if err != nil {
				return nil, err
			}
			rootfs, err := agnhostRootfs.keyInput(ctx)
			if err != nil {
				return nil, err
			}
			coredns, err := b.coreDNS(ctx)
			if err != nil {
				return nil, err
			}
			files, err := b.upstreamHashes(slices.Concat(agnhostFiles, kittenFiles, nautilusFile)...)
			if err != nil {
				return nil, err
			}
			return map[string]any{"agnhost": bin, "rootfs": rootfs, "coredns": sha256Hex(coredns), "files": files, "os-release": upstreamBaseNote}, nil
		},
		build: buildAgnhostGroup,
	},
	{
		name: "glibc-dns-testing",
		ids:  []string{"GlibcDnsTesting"},
		inputs: func(ctx context.Context, b *builder) (any, error) {
			rootfs, err := glibcDNSRootfs.keyInput(ctx)
			if err != nil {
				return nil, err
			}
			coredns, err := b.coreDNS(ctx)
			if err != nil {
				return nil, err
			}
			return map[string]any{"rootfs": rootfs, "coredns": sha256Hex(coredns)}, nil
		},
		build: func(ctx context.Context, b *builder) (map[string]v1.Image, error) {
			base, err := b.debianLayer(ctx, glibcDNSRootfs)
			if err != nil {
				return nil, err
			}
			coredns, err := b.coreDNS(ctx)
			if err != nil {
				return nil, err
			}
			l, err := FilesLayer([]File{Exec("coredns", coredns)})
			if err != nil {
				return nil, err
			}
			img, err := NewImage(nil, []Step{base, {l, "ADD coredns /coredns"}}, v1.Config{Env: []string{defaultPath}, Cmd: []string{"bash"}})
			if err != nil {
				return nil, err
			}
			return map[string]v1.Image{"GlibcDnsTesting": img}, nil
		},
	},
	{
		name: "nginx",
		ids:  []string{"Nginx", "NginxNew"},
		inputs: func(ctx context.Context, b *builder) (any, error) {
			rootfs, err := nginxRootfs.keyInput(ctx)
			if err != nil {
				return nil, err
			}
			return map[string]any{"rootfs": rootfs, "site": nginxSite}, nil
		},
		build: buildNginxGroup,
	},
	{
		name: "nonewprivs",
		ids:  []string{"Nonewprivs"},
		inputs: func(ctx context.Context, b *builder) (any, error) {
			bb, err := busyboxInputs(ctx, b)
			if err != nil {
				return nil, err
			}
			nnp, err := b.binaryKey(ctx, binaries.NNP)
			if err != nil {
				return nil, err
			}
			return map[string]any{"busybox": bb, "nnp": nnp}, nil
		},
		build: func(ctx context.Context, b *builder) (map[string]v1.Image, error) {
			base, err := b.busyboxImage(ctx)
			if err != nil {
				return nil, err
			}
			nnp, err := b.binary(ctx, binaries.NNP)
			if err != nil {
				return nil, err
			}
			// Set-user-ID root, as upstream's `chmod +s`: the test checks that
			// no_new_privs keeps it from taking effect.
			l, err := FilesLayer([]File{Dir("usr/local", 0o755), Dir("usr/local/bin", 0o755), {Path: "usr/local/bin/nnp", Mode: 0o6755, Data: nnp}})
			if err != nil {
				return nil, err
			}
			img, err := NewImage(base, []Step{{l, "COPY nnp /usr/local/bin/nnp"}}, v1.Config{Env: []string{defaultPath}, Cmd: []string{"nnp"}})
			if err != nil {
				return nil, err
			}
			return map[string]v1.Image{"Nonewprivs": img}, nil
		},
	},
	{
		name: "sample-apiserver",
		ids:  []string{"APIServer"},
		inputs: func(ctx context.Context, b *builder) (any, error) {
			bb, err := busyboxInputs(ctx, b)
			if err != nil {
				return nil, err
			}
			bin, err := b.binaryKey(ctx, binaries.SampleAPIServer)
			if err != nil {
				return nil, err
			}
			return map[string]any{"busybox": bb, "sample-apiserver": bin}, nil
		},
		build: func(ctx context.Context, b *builder) (map[string]v1.Image, error) {
			base, err := b.busyboxImage(ctx)
			if err != nil {
				return nil, err
			}
			bin, err := b.binary(ctx, binaries.SampleAPIServer)
			if err != nil {
				return nil, err
			}
			l, err := FilesLayer([]File{Exec("sample-apiserver", bin)})
			if err != nil {
				return nil, err
			}
			img, err := NewImage(base, []Step{{l, "ADD sample-apiserver /sample-apiserver"}}, v1.Config{Env: []string{defaultPath}, Entrypoint: []string{"/sample-apiserver"}})
			if err != nil {
				return nil, err
			}
			return map[string]v1.Image{"APIServer": img}, nil
		},
	},
	{
		name: "etcd",
		ids:  []string{"Etcd"},
		inputs: func(ctx context.Context, b *builder) (any, error) {
			bb, err := busyboxInputs(ctx, b)
			if err != nil {
				return nil, err
			}
			bin, err := b.binaryKey(ctx, binaries.Etcd)
			if err != nil {
				return nil, err
			}
			return map[string]any{"busybox": bb, "etcd": bin}, nil
		},
		build: func(ctx context.Context, b *builder) (map[string]v1.Image, error) {
			base, err := b.busyboxImage(ctx)
			if err != nil {
				return nil, err
			}
			bin, err := b.binary(ctx, binaries.Etcd)
			if err != nil {
				return nil, err
			}
			l, err := FilesLayer([]File{Dir("usr/local", 0o755), Dir("usr/local/bin", 0o755), Exec("usr/local/bin/etcd", bin), {Path: "var/etcd", Mode: 0o700, Dir: true}})
			if err != nil {
				return nil, err
			}
			img, err := NewImage(base, []Step{{l, "COPY etcd /usr/local/bin/etcd"}}, v1.Config{
				Env: []string{defaultPath}, Cmd: []string{"/usr/local/bin/etcd"},
				ExposedPorts: map[string]struct{}{"2379/tcp": {}, "2380/tcp": {}},
			})
			if err != nil {
				return nil, err
			}
			return map[string]v1.Image{"Etcd": img}, nil
		},
	},
	sonobuoyGroup,
	conformanceGroup,
}

// debianLayer makes (or reads from the cache) a Debian root filesystem as the first layer.
func (b *builder) debianLayer(ctx context.Context, d Debian) (Step, error) {
	return memoize(b, fmt.Sprintf("debian %v", d), func() (Step, error) {
		t, err := d.Rootfs(ctx, b.CacheDir, b.logf)
		if err != nil {
			return Step{}, err
		}
		l, err := Layer(t)
		if err != nil {
			return Step{}, err
		}
		return Step{l, fmt.Sprintf("mmdebstrap --variant=essential --include=%s %s", strings.Join(d.Packages, ","), d.Suite)}, nil
	})
}

func busyboxInputs(ctx context.Context, b *builder) (any, error) {
	src, err := busyboxSource(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]any{"source": src, "format": busyboxFormat}, nil
}

// busyboxImage is busybox (see busybox.go) with every applet linked in /bin, as upstream's
// busybox image has them, and the minimal /etc of a busybox system.
func (b *builder) busyboxImage(ctx context.Context) (v1.Image, error) {
	return memoize(b, "busybox", func() (v1.Image, error) {
		src, err := busyboxSource(ctx)
		if err != nil {
			return nil, err
		}
		bin, err := b.busyboxBinary(ctx, src)
		if err != nil {
			return nil, err
		}
		applets, err := busyboxApplets(ctx, bin)
		if err != nil {
			return nil, err
		}
		l, err := FilesLayer(busyboxFiles(bin, applets))
		if err != nil {
			return nil, err
		}
		return NewImage(nil, []Step{{l, "busybox " + upstreamVersion(src.Version) + " (defconfig, static)"}}, v1.Config{Env: []string{defaultPath}, Cmd: []string{"sh"}})
	})
}

// busyboxApplets runs the binary to list its applets.
func busyboxApplets(ctx context.Context, bin []byte) ([]string, error) {
	dir, err := os.MkdirTemp("", "conformance-busybox-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "busybox")
	if err := os.WriteFile(p, bin, 0o755); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, p, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	return strings.Fields(string(out)), nil
}

// busyboxFiles lays out a busybox system: the binary in /bin, each applet a link to it beside
// it, and the directories and /etc files programs and tests expect.
func busyboxFiles(bin []byte, applets []string) []File {
	files := []File{
		Dir("bin", 0o755), Exec("bin/busybox", bin),
		Dir("etc", 0o755),
		Regular("etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nbin:x:2:2:bin:/bin:/bin/false\nsys:x:3:3:sys:/dev:/bin/false\nsync:x:4:100:sync:/bin:/bin/sync\nmail:x:8:8:mail:/var/spool/mail:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\noperator:x:37:37:Operator:/var:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n")),
		Regular("etc/group", []byte("root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\nwheel:x:10:root\nmail:x:12:\nwww-data:x:33:\noperator:x:37:\nusers:x:100:\nnogroup:x:65534:\n")),
		Dir("home", 0o755), {Path: "root", Mode: 0o700, Dir: true}, {Path: "tmp", Mode: 0o1777, Dir: true},
		Dir("usr", 0o755), Dir("usr/sbin", 0o755), Dir("var", 0o755), Dir("var/www", 0o755), Dir("var/spool", 0o755), Dir("var/spool/mail", 0o755),
	}
	for _, a := range applets {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		files = append(files, Link("bin/"+a, "busybox"))
	}
	return files
}

// agnhostConfig is upstream's agnhost Dockerfile's: ENTRYPOINT /agnhost, CMD pause, its ports.
var agnhostConfig = v1.Config{
	Env:        []string{defaultPath},
	Entrypoint: []string{"/agnhost"},
	Cmd:        []string{"pause"},
	WorkingDir: "/",
	ExposedPorts: map[string]struct{}{
		"80/tcp": {}, "8080/tcp": {}, "8081/tcp": {}, "9376/tcp": {}, "5000/tcp": {},
	},
}

func buildAgnhostGroup(ctx context.Context, b *builder) (map[string]v1.Image, error) {
	base, err := b.debianLayer(ctx, agnhostRootfs)
	if err != nil {
		return nil, err
	}
	bin, err := b.binary(ctx, binaries.Agnhost)
	if err != nil {
		return nil, err
	}
	coredns, err := b.coreDNS(ctx)
	if err != nil {
		return nil, err
	}
	crt, err := b.upstreamFile(agnhostFiles[0])
	if err != nil {
		return nil, err
	}
	key, err := b.upstreamFile(agnhostFiles[1])
	if err != nil {
		return nil, err
	}
	l, err := FilesLayer([]File{
		Exec("agnhost", bin),
		// The entrypoint-tester tests run the binary under a second name.
		Link("agnhost-2", "agnhost"),
		Exec("coredns", coredns),
		Regular("localhost.crt", crt), Regular("localhost.key", key),
		Dir("uploads", 0o755),
	})
	if err != nil {
		return nil, err
	}
	out := map[string]v1.Image{}
	agnhost := map[string]v1.Image{}
	for _, id := range []string{"Agnhost", "AgnhostPrev"} {
		img, err := NewImage(nil, []Step{base, {l, "ADD agnhost coredns porter/localhost.crt porter/localhost.key /"}}, withVersion(agnhostConfig, b.manifest.Images[id].Tag))
		if err != nil {
			return nil, err
		}
		out[id], agnhost[id] = img, img
	}
	// kitten and nautilus: agnhost serving a picture with test-webserver.
	osRelease, err := b.agnhostOSRelease(ctx)
	if err != nil {
		return nil, err
	}
	for id, files := range map[string][]string{"Kitten": kittenFiles, "Nautilus": nautilusFile} {
		var fs []File
		for _, f := range files {
			data, err := b.upstreamFile(f)
			if err != nil {
				return nil, err
			}
			fs = append(fs, Regular(filepath.Base(f), data))
		}
		fs = append(fs, Dir("etc", 0o755), Regular("etc/os-release", osRelease))
		hl, err := FilesLayer(fs)
		if err != nil {
			return nil, err
		}
		cfg := withVersion(agnhostConfig, b.manifest.Images[id].Tag)
		cfg.Cmd = []string{"test-webserver"}
		img, err := NewImage(agnhost["Agnhost"], []Step{{hl, "COPY html/ /"}}, cfg)
		if err != nil {
			return nil, err
		}
		out[id] = img
	}
	return out, nil
}

// upstreamBaseNote heads the os-release of the images upstream derives from agnhost (kitten,
// nautilus): upstream builds them on Alpine, and the ImageVolume conformance test reads the
// file out of kitten as a mark of that image's own content. It says what this image is.
const upstreamBaseNote = "# Upstream builds this image (test/images/kitten, test/images/nautilus) on Alpine Linux, as\n" +
	"# agnhost's base; this rebuild is made from Debian packages, described below.\n"

// agnhostOSRelease is the agnhost rootfs's os-release under upstreamBaseNote.
func (b *builder) agnhostOSRelease(ctx context.Context) ([]byte, error) {
	t, err := agnhostRootfs.Rootfs(ctx, b.CacheDir, b.logf)
	if err != nil {
		return nil, err
	}
	data, err := tarFile(t, "usr/lib/os-release")
	if err != nil {
		return nil, fmt.Errorf("the agnhost rootfs: %w", err)
	}
	return append([]byte(upstreamBaseNote), data...), nil
}

// nginxSite serves /usr/share/nginx/html on port 80, where upstream's (Alpine's) nginx serves
// its welcome page and where the tests read and move index.html.
const nginxSite = `server {
	listen 80 default_server;
	listen [::]:80 default_server;
	root /usr/share/nginx/html;
	index index.html index.htm;
	server_name _;
	location / {
		try_files $uri $uri/ =404;
	}
}
`

// nginxIndex is the welcome page upstream's image serves at /.
const nginxIndex = `<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and working.</p>
</body>
</html>
`

func buildNginxGroup(ctx context.Context, b *builder) (map[string]v1.Image, error) {
	base, err := b.debianLayer(ctx, nginxRootfs)
	if err != nil {
		return nil, err
	}
	l, err := FilesLayer([]File{
		Dir("etc/nginx/sites-enabled", 0o755),
		Regular("etc/nginx/sites-enabled/default", []byte(nginxSite)),
		Dir("usr/share/nginx/html", 0o755),
		Regular("usr/share/nginx/html/index.html", []byte(nginxIndex)),
		// Logs go to the container's output, as upstream's image sends them.
		Dir("var/log/nginx", 0o755),
		Link("var/log/nginx/access.log", "/dev/stdout"),
		Link("var/log/nginx/error.log", "/dev/stderr"),
	})
	if err != nil {
		return nil, err
	}
	out := map[string]v1.Image{}
	for _, id := range []string{"Nginx", "NginxNew"} {
		cfg := withVersion(v1.Config{
			Env:          []string{defaultPath},
			Cmd:          []string{"nginx", "-g", "daemon off;"},
			ExposedPorts: map[string]struct{}{"80/tcp": {}},
			StopSignal:   "SIGQUIT",
		}, b.manifest.Images[id].Tag)
		img, err := NewImage(nil, []Step{base, {l, "COPY default /etc/nginx/sites-enabled/"}}, cfg)
		if err != nil {
			return nil, err
		}
		out[id] = img
	}
	return out, nil
}
