/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Config loader tests: decoding, defaults, one exact diagnostic per error class, ordering of
 * several diagnostics, vhd_parse_size, the shipped configs, and the schema / docs agreement.
 * Host checks (files, directories) run against a temporary tree made per test.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config_internal.h"
#include "vhostd/config.h"

static char g_tmp[64];

static void
setup(void)
{
	char path[128];
	int fd;

	snprintf(g_tmp, sizeof(g_tmp), "/tmp/vhd-config-XXXXXX");
	cr_assert_not_null(mkdtemp(g_tmp));
	snprintf(path, sizeof(path), "%s/disk.img", g_tmp);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 1 << 20), 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/dir", g_tmp);
	cr_assert_eq(mkdir(path, 0700), 0);
}

static void
teardown(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/disk.img", g_tmp);
	unlink(path);
	snprintf(path, sizeof(path), "%s/dir", g_tmp);
	rmdir(path);
	rmdir(g_tmp);
}

TestSuite(config, .init = setup, .fini = teardown);

/* printf into a static buffer: the YAML and the expected messages name the temp dir. */
static const char * VHD_PRINTF(1, 2)
fmt(const char *f, ...)
{
	static char bufs[2][8192];
	static int which;
	char *buf = bufs[which++ % 2];
	va_list ap;

	va_start(ap, f);
	vsnprintf(buf, sizeof(bufs[0]), f, ap);
	va_end(ap);
	return buf;
}

static struct vhd_config *
load_ok(const char *yaml)
{
	struct vhd_diag diag = {0};
	struct vhd_config *cfg = NULL;
	int rc = vhd_config_load_string("t.yaml", yaml, strlen(yaml), &cfg, &diag);

	cr_assert_eq(rc, 0, "rc %d, diagnostics:\n%s", rc, diag.text ? diag.text : "");
	cr_assert_not_null(cfg);
	cr_assert_eq(diag.count, 0);
	cr_assert_null(diag.text);
	return cfg;
}

/* The whole diagnostic text must be exactly `want` (lines ending in '\n'). */
static void
expect(const char *yaml, const char *want)
{
	struct vhd_diag diag = {0};
	struct vhd_config *cfg = (struct vhd_config *)0x1;
	int rc = vhd_config_load_string("t.yaml", yaml, strlen(yaml), &cfg, &diag);
	unsigned int lines = 0;

	cr_assert_eq(rc, -EINVAL, "rc %d for:\n%s", rc, yaml);
	cr_assert_null(cfg);
	cr_assert_not_null(diag.text);
	cr_assert_str_eq(diag.text, want, "for:\n%s\ngot:\n%swant:\n%s", yaml, diag.text, want);
	for (const char *p = want; *p != '\0'; p++) {
		lines += *p == '\n';
	}
	cr_assert_eq(diag.count, lines);
	cr_assert_eq(diag.len, strlen(diag.text));
	vhd_diag_free(&diag);
}

static bool
mask_is(const struct vhd_cpumask *m, const char *list)
{
	struct vhd_cpumask want;

	cr_assert_eq(vhd_cpumask_parse(&want, list, NULL, 0), 0);
	return memcmp(m, &want, sizeof(want)) == 0;
}

Test(config, full_config_decodes)
{
	struct vhd_config *cfg = load_ok(fmt(
		"cores: \"0-3\"\n"
		"hugemem: 1024\n"
		"socket_dir: %s\n"
		"log_level: debug\n"
		"idle_sleep_us: 50\n"
		"rpc_socket: /run/vhostd.sock\n"
		"kata:\n"
		"  store: /run/kata/vhost-user\n"
		"backends:\n"
		"  - {name: disk0, type: aio, path: %s/disk.img, block_size: 4096,"
		" readonly: true}\n"
		"  - name: ram0\n"
		"    type: malloc\n"
		"    size: 64MiB\n"
		"    block_size: 4096\n"
		"  - {name: null0, type: null, size: 1073741824}\n"
		"  - {name: nvme0, type: nvme, pci: \"0000:5E:1f.7\", namespace: 2}\n"
		"  - {name: ram1, type: malloc, size: 1g}\n"
		"controllers:\n"
		"  - name: vhost.0\n"
		"    type: scsi\n"
		"    cpumask: 0x1\n"
		"    targets:\n"
		"      - id: 0\n"
		"        luns:\n"
		"          - {lun: 0, backend: disk0}\n"
		"          - {lun: 1, backend: ram1}\n"
		"      - {id: 3, luns: [{lun: 16383, backend: disk0, readonly: true}]}\n"
		"  - {name: vhost.1, type: blk, cpumask: \"1-2\", backend: ram0, readonly: true,\n"
		"     num_queues: 128, serial: \"SN-0001\"}\n"
		"  - {name: a-very-long-controller-name, type: blk, backend: null0}\n"
		"  - {name: vhost.3, type: blk, backend: nvme0}\n", g_tmp, g_tmp));
	const struct vhd_backend_conf *b;
	const struct vhd_ctrlr_conf *c;

	cr_assert_str_eq(cfg->path, "t.yaml");
	cr_assert(mask_is(&cfg->cores, "0-3"));
	cr_assert_eq(cfg->hugemem_mb, 1024);
	cr_assert_str_eq(cfg->socket_dir, g_tmp);
	cr_assert_eq(cfg->log_level, VHD_LOG_DEBUG);
	cr_assert_eq(cfg->idle_sleep_us, 50);
	cr_assert_str_eq(cfg->rpc_socket, "/run/vhostd.sock");
	cr_assert_str_eq(cfg->kata_store, "/run/kata/vhost-user");

	cr_assert_eq(cfg->nbackends, 5);
	b = &cfg->backends[0];
	cr_assert_str_eq(b->name, "disk0");
	cr_assert_eq(b->type, VHD_BACKEND_AIO);
	cr_assert_str_eq(b->path, fmt("%s/disk.img", g_tmp));
	cr_assert_eq(b->block_size, 4096);
	cr_assert(b->readonly);
	cr_assert_eq(b->size, 0);
	cr_assert_eq(b->line, 10);
	b = &cfg->backends[1];
	cr_assert_str_eq(b->name, "ram0");
	cr_assert_eq(b->type, VHD_BACKEND_MALLOC);
	cr_assert_eq(b->size, 64ULL << 20);
	cr_assert_eq(b->block_size, 4096);
	cr_assert(!b->readonly);
	cr_assert_eq(b->line, 11);
	b = &cfg->backends[2];
	cr_assert_eq(b->type, VHD_BACKEND_NULL);
	cr_assert_eq(b->size, 1ULL << 30);
	cr_assert_eq(b->block_size, 512);
	b = &cfg->backends[3];
	cr_assert_eq(b->type, VHD_BACKEND_NVME);
	cr_assert_str_eq(b->pci, "0000:5e:1f.7");
	cr_assert_eq(b->nsid, 2);
	cr_assert_eq(b->block_size, 0);
	cr_assert_eq(cfg->backends[4].size, 1ULL << 30);
	cr_assert_eq(vhd_config_find_backend(cfg, "nvme0"), &cfg->backends[3]);
	cr_assert_null(vhd_config_find_backend(cfg, "nvme1"));

	cr_assert_eq(cfg->ncontrollers, 4);
	c = &cfg->controllers[0];
	cr_assert_str_eq(c->name, "vhost.0");
	cr_assert_eq(c->type, VHD_CTRLR_SCSI);
	cr_assert(mask_is(&c->cpumask, "0"));
	cr_assert_eq(c->num_queues, 1);
	cr_assert_eq(c->line, 19);
	cr_assert_eq(c->ntargets, 2);
	cr_assert_eq(c->targets[0].id, 0);
	cr_assert_eq(c->targets[0].nluns, 2);
	cr_assert_eq(c->targets[0].luns[0].lun, 0);
	cr_assert_str_eq(c->targets[0].luns[0].backend, "disk0");
	cr_assert(!c->targets[0].luns[0].readonly);
	cr_assert_eq(c->targets[0].luns[1].lun, 1);
	cr_assert_str_eq(c->targets[0].luns[1].backend, "ram1");
	cr_assert_eq(c->targets[1].id, 3);
	cr_assert_eq(c->targets[1].nluns, 1);
	cr_assert_eq(c->targets[1].luns[0].lun, 16383);
	cr_assert(c->targets[1].luns[0].readonly);
	c = &cfg->controllers[1];
	cr_assert_eq(c->type, VHD_CTRLR_BLK);
	cr_assert(mask_is(&c->cpumask, "1-2"));
	cr_assert_str_eq(c->backend, "ram0");
	cr_assert(c->readonly);
	cr_assert_eq(c->num_queues, 128);
	cr_assert_str_eq(c->serial, "SN-0001");
	cr_assert_eq(c->ntargets, 0);
	cr_assert_null(c->targets);
	c = &cfg->controllers[2];
	cr_assert(mask_is(&c->cpumask, "0-3"));
	cr_assert_str_eq(c->serial, "a-very-long-controll");
	cr_assert(!c->readonly);
	cr_assert_str_eq(cfg->controllers[3].serial, "vhost.3");
	vhd_config_free(cfg);
}

Test(config, defaults)
{
	struct vhd_config *cfg = load_ok(fmt(
		"backends:\n"
		"  - {name: r, type: malloc, size: 4096}\n"
		"  - {name: n, type: nvme, pci: 0000:01:00.0}\n"
		"  - {name: a, type: aio, path: %s/disk.img}\n"
		"controllers:\n"
		"  - {name: c, type: blk, backend: r}\n", g_tmp));

	cr_assert(mask_is(&cfg->cores, "0"));
	cr_assert_eq(cfg->hugemem_mb, 256);
	cr_assert_str_eq(cfg->socket_dir, "/var/tmp");
	cr_assert_eq(cfg->log_level, VHD_LOG_NOTICE);
	cr_assert_eq(cfg->idle_sleep_us, 0);
	cr_assert_str_eq(cfg->rpc_socket, "/var/tmp/vhostd.sock");
	cr_assert_str_eq(cfg->kata_store, "");
	cr_assert_eq(cfg->backends[0].block_size, 512);
	cr_assert_eq(cfg->backends[1].nsid, 1);
	cr_assert_str_eq(cfg->backends[1].pci, "0000:01:00.0");
	cr_assert_eq(cfg->backends[2].block_size, 0);
	cr_assert(!cfg->backends[2].readonly);
	cr_assert(mask_is(&cfg->controllers[0].cpumask, "0"));
	cr_assert_eq(cfg->controllers[0].num_queues, 1);
	cr_assert_str_eq(cfg->controllers[0].serial, "c");
	cr_assert(!cfg->controllers[0].readonly);
	vhd_config_free(cfg);

	/* Only a setting: no backends, no controllers. */
	cfg = load_ok("cores: 0\n");
	cr_assert_eq(cfg->nbackends, 0);
	cr_assert_eq(cfg->ncontrollers, 0);
	cr_assert_null(cfg->backends);
	vhd_config_free(cfg);
}

Test(config, scalar_spellings)
{
	struct vhd_config *cfg = load_ok(fmt(
		"cores: 0x5\n"
		"hugemem: \"512\"\n"
		"log_level: WARN\n"
		"backends:\n"
		"  - {name: a, type: aio, path: %s/disk.img, readonly: True}\n"
		"  - {name: b, type: null, size: 2 kib}\n"
		"controllers:\n"
		"  - {name: c0, type: blk, backend: a, cpumask: 2}\n"
		"  - {name: c1, type: blk, backend: a, readonly: FALSE, cpumask: '0,2'}\n", g_tmp));

	cr_assert(mask_is(&cfg->cores, "0,2"));
	cr_assert_eq(cfg->hugemem_mb, 512);
	cr_assert_eq(cfg->log_level, VHD_LOG_WARNING);
	cr_assert(cfg->backends[0].readonly);
	cr_assert_eq(cfg->backends[1].size, 2048);
	cr_assert(mask_is(&cfg->controllers[0].cpumask, "2"));
	cr_assert(mask_is(&cfg->controllers[1].cpumask, "0,2"));
	vhd_config_free(cfg);

	/* A plain 0 is CPU 0 (a list), not an empty mask. */
	cfg = load_ok("cores: 3\n");
	cr_assert(mask_is(&cfg->cores, "3"));
	vhd_config_free(cfg);
}

Test(config, yaml_syntax_errors)
{
	expect("a: 1\nb: [1, 2\n",
	       "t.yaml:3:1: did not find expected ',' or ']' (while parsing a flow sequence at "
	       "2:4)\n");
	expect("hugemem: 1\n  socket_dir: /x\n",
	       "t.yaml:2:13: mapping values are not allowed in this context\n");
	expect("cores: 0\nhugemem: \xff\n",
	       "t.yaml:2:10: invalid leading UTF-8 octet (byte 0xff)\n");
	expect("cores: *nope\n", "t.yaml:1:8: found undefined alias\n");
	expect("cores: 0\n---\ncores: 1\n",
	       "t.yaml:3:1: only one YAML document is allowed in a config\n");
	expect("cores: 0\n---\n[\n", "t.yaml:4:1: did not find expected node content (while "
	       "parsing a flow node at 4:1)\n");
}

Test(config, empty_or_not_a_mapping)
{
	expect("", "t.yaml:1:1: the file is empty; expected a mapping of settings\n");
	expect("# nothing here\n\n", "t.yaml:1:1: the file is empty; expected a mapping of "
	       "settings\n");
	expect("- cores: 0\n", "t.yaml:1:1: the top level must be a mapping of settings, got a "
	       "sequence\n");
	expect("\nhello\n", "t.yaml:2:1: the top level must be a mapping of settings, got "
	       "'hello'\n");
}

Test(config, unknown_and_duplicate_keys)
{
	expect("cores: 0\ncore: 1\n", "t.yaml:2:1: core: unknown key\n");
	expect("kata: {store: /k, stor: /j}\n", "t.yaml:1:19: kata.stor: unknown key\n");
	expect("hugemem: 64\ncores: 0\nhugemem: 128\n",
	       "t.yaml:3:1: hugemem: duplicate key (first given at line 1)\n");
	expect("backends:\n  - {name: a, type: null, size: 512, name: b}\n",
	       "t.yaml:2:38: backends[0].name: duplicate key (first given at line 2)\n");
	expect("? [a]\n: 1\n", "t.yaml:1:3: expected a key name, got a sequence\n");
	expect(fmt("backends:\n"
	       "  - {name: a, type: aio, path: %s/disk.img, size: 512}\n"
	       "  - {name: b, type: malloc, size: 512, readonly: true, pci: 0000:00:00.0}\n"
	       "  - {name: c, type: nvme, pci: 0000:00:00.0, block_size: 512, foo: 1}\n"
	       "controllers:\n"
	       "  - {name: c0, type: scsi, backend: a, serial: x, readonly: true,\n"
	       "     targets: [{id: 0, luns: [{lun: 0, backend: a, bar: 1}]}]}\n"
	       "  - {name: c1, type: blk, backend: b, targets: []}\n", g_tmp),
	       "t.yaml:2:65: backends[0].size: unknown key for type aio\n"
	       "t.yaml:3:40: backends[1].readonly: unknown key for type malloc\n"
	       "t.yaml:3:56: backends[1].pci: unknown key for type malloc\n"
	       "t.yaml:4:46: backends[2].block_size: unknown key for type nvme\n"
	       "t.yaml:4:63: backends[2].foo: unknown key\n"
	       "t.yaml:6:28: controllers[0].backend: unknown key for type scsi\n"
	       "t.yaml:6:40: controllers[0].serial: unknown key for type scsi\n"
	       "t.yaml:6:51: controllers[0].readonly: unknown key for type scsi\n"
	       "t.yaml:7:52: controllers[0].targets[0].luns[0].bar: unknown key\n"
	       "t.yaml:8:39: controllers[1].targets: unknown key for type blk\n");
}

Test(config, wrong_types)
{
	expect("hugemem: lots\n", "t.yaml:1:10: hugemem: expected an integer, got 'lots'\n");
	expect("hugemem: [1]\n", "t.yaml:1:10: hugemem: expected an integer, got a sequence\n");
	expect("hugemem:\n", "t.yaml:1:9: hugemem: expected an integer, got an empty value\n");
	expect("hugemem: 1.5\n", "t.yaml:1:10: hugemem: expected an integer, got '1.5'\n");
	expect("cores: {a: 1}\n", "t.yaml:1:8: cores: expected a CPU list or mask, got a "
	       "mapping\n");
	expect("socket_dir: ~\n", "t.yaml:1:13: socket_dir: expected an absolute path, got an "
	       "empty value\n");
	expect("log_level: [debug]\n", "t.yaml:1:12: log_level: expected a log level, got a "
	       "sequence\n");
	expect("kata: /run/kata\n", "t.yaml:1:7: kata: expected a mapping, got '/run/kata'\n");
	expect("backends: disk0\n", "t.yaml:1:11: backends: expected a sequence, got 'disk0'\n");
	expect("backends:\n  - disk0\n", "t.yaml:2:5: backends[0]: expected a mapping, got "
	       "'disk0'\n");
	expect("controllers: {name: x}\n", "t.yaml:1:14: controllers: expected a sequence, got "
	       "a mapping\n");
	expect("backends:\n  - {name: [a], type: 7, path: /dev/null}\n",
	       "t.yaml:2:12: backends[0].name: expected a name, got a sequence\n"
	       "t.yaml:2:23: backends[0].type: '7' is not a valid type (expected aio, malloc, "
	       "null or nvme)\n");
	expect(fmt("backends:\n  - {name: a, type: aio, path: %s/disk.img, readonly: yes}\n",
		   g_tmp),
	       "t.yaml:2:75: backends[0].readonly: expected true or false, got 'yes'\n");
	expect("backends:\n  - {name: a, type: null, size: [1]}\n",
	       "t.yaml:2:33: backends[0].size: expected a size, got a sequence\n");
	expect("backends:\n  - {name: a, type: nvme, pci: {}}\n",
	       "t.yaml:2:32: backends[0].pci: expected a PCI address, got a mapping\n");
	expect("controllers:\n  - {name: c, type: blk, backend: b, serial: [x]}\n"
	       "backends: [{name: b, type: null, size: 512}]\n",
	       "t.yaml:2:46: controllers[0].serial: expected a string, got a sequence\n");
	expect("controllers:\n  - {name: c, type: scsi, targets: {id: 0}}\n",
	       "t.yaml:2:36: controllers[0].targets: expected a sequence, got a mapping\n");
	expect("controllers:\n  - {name: c, type: scsi, targets: [7]}\n",
	       "t.yaml:2:37: controllers[0].targets[0]: expected a mapping, got '7'\n");
	expect("controllers:\n  - {name: c, type: scsi, targets: [{id: 0, luns: x}]}\n",
	       "t.yaml:2:51: controllers[0].targets[0].luns: expected a sequence, got 'x'\n");
	/* Long values are cut short and control characters masked in the message. */
	expect("hugemem: \"0123456789012345678901234567890123456789xyz\\tq\"\n",
	       "t.yaml:1:10: hugemem: expected an integer, got "
	       "'0123456789012345678901234567890123456789...'\n");
	expect("hugemem: \"1\\t2\"\n", "t.yaml:1:10: hugemem: expected an integer, got '1?2'\n");
}

Test(config, integer_ranges)
{
	expect("hugemem: 8\n", "t.yaml:1:10: hugemem: 8 is out of range (16..1048576)\n");
	expect("hugemem: 1048577\n",
	       "t.yaml:1:10: hugemem: 1048577 is out of range (16..1048576)\n");
	expect("hugemem: -1\n", "t.yaml:1:10: hugemem: -1 is out of range (16..1048576)\n");
	expect("hugemem: 99999999999999999999999\n",
	       "t.yaml:1:10: hugemem: 99999999999999999999999 is out of range (16..1048576)\n");
	expect("idle_sleep_us: 100001\n",
	       "t.yaml:1:16: idle_sleep_us: 100001 is out of range (0..100000)\n");
	expect("controllers:\n"
	       "  - {name: c, type: scsi, num_queues: 0,\n"
	       "     targets: [{id: 256, luns: [{lun: 16384, backend: b, readonly: true}]}]}\n"
	       "  - {name: d, type: blk, backend: b, num_queues: 129, readonly: true}\n"
	       "backends:\n"
	       "  - {name: b, type: nvme, pci: 0000:01:00.0, namespace: 0}\n",
	       "t.yaml:2:39: controllers[0].num_queues: 0 is out of range (1..128)\n"
	       "t.yaml:3:21: controllers[0].targets[0].id: 256 is out of range (0..255)\n"
	       "t.yaml:3:39: controllers[0].targets[0].luns[0].lun: 16384 is out of range "
	       "(0..16383)\n"
	       "t.yaml:4:50: controllers[1].num_queues: 129 is out of range (1..128)\n"
	       "t.yaml:6:57: backends[0].namespace: 0 is out of range (1..4294967294)\n");
	expect("backends:\n  - {name: b, type: nvme, pci: 0000:01:00.0, namespace: 4294967295}\n",
	       "t.yaml:2:57: backends[0].namespace: 4294967295 is out of range "
	       "(1..4294967294)\n");
}

Test(config, cpu_sets)
{
	expect("cores: 5-2\n", "t.yaml:1:8: cores: invalid CPU set '5-2': '5-2' is not a valid "
	       "range (start is after end)\n");
	expect("cores: \"0x0\"\n", "t.yaml:1:8: cores: invalid CPU set '0x0': empty cpu set\n");
	expect("cores: 1024\n", "t.yaml:1:8: cores: invalid CPU set '1024': CPU 1024 is beyond "
	       "the supported maximum (1023)\n");
	expect("cores: 0-1\n"
	       "backends: [{name: b, type: null, size: 512}]\n"
	       "controllers:\n"
	       "  - {name: c0, type: blk, backend: b, readonly: true, cpumask: 3}\n"
	       "  - {name: c1, type: blk, backend: b, readonly: true, cpumask: 0xc}\n"
	       "  - {name: c2, type: blk, backend: b, readonly: true, cpumask: 0x1f}\n"
	       "  - {name: c3, type: blk, backend: b, readonly: true, cpumask: \"0,x\"}\n",
	       "t.yaml:4:64: controllers[0].cpumask: CPU 3 is not in cores (0-1)\n"
	       "t.yaml:5:64: controllers[1].cpumask: CPUs 2-3 are not in cores (0-1)\n"
	       "t.yaml:6:64: controllers[2].cpumask: CPUs 2-4 are not in cores (0-1)\n"
	       "t.yaml:7:64: controllers[3].cpumask: invalid CPU set '0,x': expected a CPU "
	       "number at 'x'\n");
	/* The default cores is CPU 0. */
	expect("backends: [{name: b, type: null, size: 512}]\n"
	       "controllers: [{name: c0, type: blk, backend: b, cpumask: 0x2}]\n",
	       "t.yaml:2:58: controllers[0].cpumask: CPU 1 is not in cores (0)\n");
	/* A bad `cores` is reported once, not again for every controller. */
	expect("cores: x\n"
	       "backends: [{name: b, type: null, size: 512}]\n"
	       "controllers: [{name: c0, type: blk, backend: b, cpumask: 0x2}]\n",
	       "t.yaml:1:8: cores: invalid CPU set 'x': expected a CPU number at 'x'\n");
}

Test(config, enums)
{
	expect("log_level: loud\n", "t.yaml:1:12: log_level: 'loud' is not a log level (expected "
	       "error, warning, notice, info or debug)\n");
	expect("controllers:\n  - {name: c, type: virtio}\n",
	       "t.yaml:2:21: controllers[0].type: 'virtio' is not a valid type (expected blk or "
	       "scsi)\n");
	/* With the type unknown, type-specific keys are neither required nor rejected. */
	expect("backends:\n  - {name: b, type: ram, size: 64MiB, pci: x}\n",
	       "t.yaml:2:21: backends[0].type: 'ram' is not a valid type (expected aio, malloc, "
	       "null or nvme)\n");
}

Test(config, paths)
{
	expect("socket_dir: var/tmp\n",
	       "t.yaml:1:13: socket_dir: 'var/tmp' is not an absolute path\n");
	expect(fmt("socket_dir: %s/nope\n", g_tmp),
	       fmt("t.yaml:1:13: socket_dir: '%s/nope': No such file or directory\n", g_tmp));
	expect(fmt("socket_dir: %s/disk.img\n", g_tmp),
	       fmt("t.yaml:1:13: socket_dir: '%s/disk.img' is not a directory\n", g_tmp));
	expect("rpc_socket: vhostd.sock\n",
	       "t.yaml:1:13: rpc_socket: 'vhostd.sock' is not an absolute path\n");
	expect(fmt("rpc_socket: /%0108d\n", 0),
	       "t.yaml:1:13: rpc_socket: path is 109 characters, longer than the 107 a unix "
	       "socket allows\n");
	expect(fmt("socket_dir: /%04096d\n", 0),
	       "t.yaml:1:13: socket_dir: path is too long (4097 characters, at most 4095)\n");
}

Test(config, socket_dir_not_writable)
{
	char dir[160];

	if (geteuid() == 0) {
		cr_skip_test("root can write anywhere");
	}
	snprintf(dir, sizeof(dir), "%s/dir", g_tmp);
	cr_assert_eq(chmod(dir, 0500), 0);
	expect(fmt("socket_dir: %s\n", dir),
	       fmt("t.yaml:1:13: socket_dir: cannot create sockets in '%s': Permission denied\n",
		   dir));
}

Test(config, socket_path_length)
{
	char name[64], dir[160];

	memset(name, 'n', 63);
	name[63] = '\0';
	/* "/var/tmp/" is 9 characters: 9 + 63 fits, a longer socket_dir does not. */
	vhd_config_free(load_ok(fmt("backends: [{name: b, type: null, size: 512}]\n"
				    "controllers: [{name: %s, type: blk, backend: b}]\n", name)));
	snprintf(dir, sizeof(dir), "%s/dir/0123456789012345678901234567890123456789", g_tmp);
	cr_assert_eq(mkdir(dir, 0700), 0);
	expect(fmt("socket_dir: %s\n"
		   "backends: [{name: b, type: null, size: 512}]\n"
		   "controllers: [{name: %s, type: blk, backend: b}]\n", dir, name),
	       fmt("t.yaml:3:22: controllers[0].name: socket path '%s/%s' is %zu characters, "
		   "longer than the 107 a unix socket allows\n", dir, name,
		   strlen(dir) + 1 + 63));
	rmdir(dir);
}

Test(config, kata)
{
	expect("kata: {}\n", "t.yaml:1:7: kata: missing required key 'store'\n");
	expect("kata:\n  store: run/kata\n",
	       "t.yaml:2:10: kata.store: 'run/kata' is not an absolute path\n");
	expect(fmt("kata:\n  store: %s/disk.img\n", g_tmp),
	       fmt("t.yaml:2:10: kata.store: '%s/disk.img' exists and is not a directory\n",
		   g_tmp));
	vhd_config_free(load_ok(fmt("kata: {store: %s/dir}\n", g_tmp)));
}

Test(config, names)
{
	expect("backends:\n"
	       "  - {type: null, size: 512}\n"
	       "  - {name: 'disk 0', type: null, size: 512}\n"
	       "  - {name: ..,  type: null, size: 512}\n"
	       "  - {name: \"\", type: null, size: 512}\n"
	       "  - {name: 0123456789012345678901234567890123456789012345678901234567890123, "
	       "type: null, size: 512}\n"
	       "  - {name: x, size: 512}\n",
	       "t.yaml:2:5: backends[0]: missing required key 'name'\n"
	       "t.yaml:3:12: backends[1].name: 'disk 0' is not a valid name: character 5 is not "
	       "a letter, digit, '_', '.' or '-'\n"
	       "t.yaml:4:12: backends[2].name: '..' is not a valid name\n"
	       "t.yaml:5:12: backends[3].name: '' is not a valid name: it is empty\n"
	       "t.yaml:6:12: backends[4].name: '0123456789012345678901234567890123456789...' is "
	       "too long (64 characters, at most 63)\n"
	       "t.yaml:7:5: backends[5]: missing required key 'type'\n");
}

Test(config, aio_backend)
{
	expect(fmt("backends:\n"
		   "  - {name: a, type: aio}\n"
		   "  - {name: b, type: aio, path: %s/missing.img}\n"
		   "  - {name: c, type: aio, path: %s/dir}\n"
		   "  - {name: d, type: aio, path: disk.img}\n"
		   "  - {name: e, type: aio, path: %s/disk.img, block_size: 1000}\n"
		   "  - {name: f, type: aio, path: %s/disk.img, block_size: 256}\n"
		   "  - {name: g, type: aio, path: %s/disk.img, block_size: 131072}\n",
		   g_tmp, g_tmp, g_tmp, g_tmp, g_tmp),
	       fmt("t.yaml:2:5: backends[0]: missing required key 'path' for type aio\n"
		   "t.yaml:3:32: backends[1].path: '%s/missing.img': No such file or directory\n"
		   "t.yaml:4:32: backends[2].path: '%s/dir' is not a regular file or block "
		   "device\n"
		   "t.yaml:5:32: backends[3].path: 'disk.img' is not an absolute path\n"
		   "t.yaml:6:77: backends[4].block_size: 1000 is not a power of two\n"
		   "t.yaml:7:77: backends[5].block_size: 256 is out of range (512..65536)\n"
		   "t.yaml:8:77: backends[6].block_size: 131072 is out of range (512..65536)\n",
		   g_tmp, g_tmp));
}

Test(config, aio_backend_not_writable)
{
	char path[160];

	if (geteuid() == 0) {
		cr_skip_test("root can write anywhere");
	}
	snprintf(path, sizeof(path), "%s/disk.img", g_tmp);
	cr_assert_eq(chmod(path, 0400), 0);
	vhd_config_free(load_ok(fmt("backends: [{name: a, type: aio, path: %s, readonly: true}]\n",
				    path)));
	expect(fmt("backends: [{name: a, type: aio, path: %s}]\n", path),
	       fmt("t.yaml:1:38: backends[0].path: '%s' cannot be opened for reading and "
		   "writing: Permission denied\n", path));
}

Test(config, ram_backends)
{
	expect("backends:\n"
	       "  - {name: a, type: malloc}\n"
	       "  - {name: b, type: malloc, size: 64MB}\n"
	       "  - {name: c, type: null, size: 0}\n"
	       "  - {name: d, type: null, size: 0GiB}\n"
	       "  - {name: e, type: null, size: 16777216TiB}\n"
	       "  - {name: f, type: malloc, size: 1000}\n"
	       "  - {name: g, type: malloc, size: 1M, block_size: 1048576}\n"
	       "  - {name: h, type: malloc, size: 6K, block_size: 4096}\n"
	       "  - {name: i, type: null, size: -1}\n",
	       "t.yaml:2:5: backends[0]: missing required key 'size' for type malloc\n"
	       "t.yaml:3:35: backends[1].size: '64MB' is not a size (expected bytes, or a number "
	       "with K, KiB, M, MiB, G, GiB, T or TiB)\n"
	       "t.yaml:4:33: backends[2].size: size must be greater than 0\n"
	       "t.yaml:5:33: backends[3].size: size must be greater than 0\n"
	       "t.yaml:6:33: backends[4].size: '16777216TiB' is too large (more than 2^64-1 "
	       "bytes)\n"
	       "t.yaml:7:35: backends[5].size: '1000' (1000 bytes) is not a multiple of "
	       "block_size (512)\n"
	       "t.yaml:8:51: backends[6].block_size: 1048576 is out of range (512..65536)\n"
	       "t.yaml:9:35: backends[7].size: '6K' (6144 bytes) is not a multiple of "
	       "block_size (4096)\n"
	       "t.yaml:10:33: backends[8].size: '-1' is not a size (expected bytes, or a number "
	       "with K, KiB, M, MiB, G, GiB, T or TiB)\n");
}

Test(config, nvme_backend)
{
	expect("backends:\n"
	       "  - {name: a, type: nvme}\n"
	       "  - {name: b, type: nvme, pci: 01:00.0}\n"
	       "  - {name: c, type: nvme, pci: \"0000:01:20.0\"}\n"
	       "  - {name: d, type: nvme, pci: \"0000:01:00.8\"}\n"
	       "  - {name: e, type: nvme, pci: \"0000:0g:00.0\"}\n"
	       "  - {name: f, type: nvme, pci: \"0000:01:00.00\"}\n",
	       "t.yaml:2:5: backends[0]: missing required key 'pci' for type nvme\n"
	       "t.yaml:3:32: backends[1].pci: '01:00.0' is not a PCI address (expected "
	       "DDDD:BB:DD.F in hex, e.g. 0000:01:00.0)\n"
	       "t.yaml:4:32: backends[2].pci: '0000:01:20.0' is not a valid PCI address (device "
	       "must be 00..1f and function 0..7)\n"
	       "t.yaml:5:32: backends[3].pci: '0000:01:00.8' is not a valid PCI address (device "
	       "must be 00..1f and function 0..7)\n"
	       "t.yaml:6:32: backends[4].pci: '0000:0g:00.0' is not a PCI address (expected "
	       "DDDD:BB:DD.F in hex, e.g. 0000:01:00.0)\n"
	       "t.yaml:7:32: backends[5].pci: '0000:01:00.00' is not a PCI address (expected "
	       "DDDD:BB:DD.F in hex, e.g. 0000:01:00.0)\n");
}

Test(config, controllers)
{
	expect("backends: [{name: b, type: null, size: 512}]\n"
	       "controllers:\n"
	       "  - {type: blk, backend: b, readonly: true}\n"
	       "  - {name: c1, backend: b}\n"
	       "  - {name: c2, type: blk}\n"
	       "  - {name: c3, type: blk, backend: nope}\n"
	       "  - {name: c4, type: blk, backend: b, readonly: true, serial: "
	       "\"123456789012345678901\"}\n"
	       "  - {name: c5, type: blk, backend: b, readonly: true, serial: \"ab\\x01\"}\n"
	       "  - {name: c6, type: scsi}\n"
	       "  - {name: c7, type: scsi, targets: []}\n"
	       "  - {name: c8, type: scsi, targets: [{id: 1, luns: []}, {luns: [{lun: 0}]}]}\n",
	       "t.yaml:3:5: controllers[0]: missing required key 'name'\n"
	       "t.yaml:4:5: controllers[1]: missing required key 'type'\n"
	       "t.yaml:5:5: controllers[2]: missing required key 'backend' for type blk\n"
	       "t.yaml:6:36: controllers[3].backend: unknown backend 'nope'\n"
	       "t.yaml:7:63: controllers[4].serial: '123456789012345678901' is too long (21 "
	       "characters, at most 20)\n"
	       "t.yaml:8:63: controllers[5].serial: character 3 is not printable ASCII\n"
	       "t.yaml:9:5: controllers[6]: missing required key 'targets' for type scsi\n"
	       "t.yaml:10:37: controllers[7].targets: a scsi controller needs at least one "
	       "target\n"
	       "t.yaml:11:52: controllers[8].targets[0].luns: a target needs at least one LUN\n"
	       "t.yaml:11:57: controllers[8].targets[1]: missing required key 'id'\n"
	       "t.yaml:11:65: controllers[8].targets[1].luns[0]: missing required key "
	       "'backend'\n");
	/* Serial may use any printable ASCII, and exactly 20 of them. */
	vhd_config_free(load_ok("backends: [{name: b, type: null, size: 512}]\n"
				"controllers:\n"
				"  - {name: c, type: blk, backend: b,"
				" serial: \" !~ 4567890123456789\"}\n"));
}

Test(config, scsi_ids)
{
	expect("backends: [{name: b, type: null, size: 512}, {name: d, type: null, size: 512}]\n"
	       "controllers:\n"
	       "  - name: s\n"
	       "    type: scsi\n"
	       "    targets:\n"
	       "      - {id: 2, luns: [{lun: 0, backend: b}, {lun: 0, backend: d}]}\n"
	       "      - {id: 2, luns: [{lun: 5, backend: zz, readonly: true}]}\n",
	       "t.yaml:6:52: controllers[0].targets[0].luns[1].lun: duplicate LUN 0 (first given "
	       "at line 6)\n"
	       "t.yaml:7:14: controllers[0].targets[1].id: duplicate target id 2 (first given at "
	       "line 6)\n"
	       "t.yaml:7:42: controllers[0].targets[1].luns[0].backend: unknown backend 'zz'\n");
	/* The same id in two controllers, the same LUN in two targets: fine. */
	vhd_config_free(load_ok(
		"backends: [{name: b, type: null, size: 512}]\n"
		"controllers:\n"
		"  - {name: s0, type: scsi, targets: [{id: 0, luns: [{lun: 0, backend: b, "
		"readonly: true}]}, {id: 1, luns: [{lun: 0, backend: b, readonly: true}]}]}\n"
		"  - {name: s1, type: scsi, targets: [{id: 0, luns: [{lun: 0, backend: b, "
		"readonly: true}]}]}\n"));
}

Test(config, duplicate_names)
{
	expect("backends:\n"
	       "  - {name: b, type: null, size: 512}\n"
	       "  - {name: b, type: malloc, size: 512}\n"
	       "  - {name: c, type: null, size: 512}\n"
	       "  - {name: b, type: null, size: 512}\n"
	       "controllers:\n"
	       "  - {name: x, type: blk, backend: b, readonly: true}\n"
	       "  - {name: x, type: blk, backend: c}\n"
	       "  - {name: b, type: blk, backend: b, readonly: true}\n",
	       "t.yaml:3:12: backends[1].name: duplicate backend name 'b' (first defined at "
	       "line 2)\n"
	       "t.yaml:5:12: backends[3].name: duplicate backend name 'b' (first defined at "
	       "line 2)\n"
	       "t.yaml:8:12: controllers[1].name: duplicate controller name 'x' (first defined "
	       "at line 7)\n");
}

Test(config, backend_sharing)
{
	expect("backends:\n"
	       "  - {name: w, type: null, size: 512}\n"
	       "  - {name: r, type: null, size: 512}\n"
	       "  - {name: m, type: malloc, size: 512}\n"
	       "controllers:\n"
	       "  - {name: c0, type: blk, backend: w}\n"
	       "  - {name: c1, type: blk, backend: w}\n"
	       "  - {name: c2, type: blk, backend: w, readonly: true}\n"
	       "  - {name: c3, type: blk, backend: r, readonly: true}\n"
	       "  - {name: c4, type: blk, backend: r}\n"
	       "  - name: c5\n"
	       "    type: scsi\n"
	       "    targets:\n"
	       "      - {id: 0, luns: [{lun: 0, backend: m}, {lun: 1, backend: m}]}\n",
	       "t.yaml:7:36: controllers[1].backend: backend 'w' is already used by "
	       "controllers[0] (line 6); a shared backend must be read-only for every user\n"
	       "t.yaml:8:36: controllers[2].backend: backend 'w' is already used read-write by "
	       "controllers[0] (line 6); a shared backend must be read-only for every user\n"
	       "t.yaml:10:36: controllers[4].backend: backend 'r' is already used by "
	       "controllers[3] (line 9); a shared backend must be read-only for every user\n"
	       "t.yaml:14:64: controllers[5].targets[0].luns[1].backend: backend 'm' is already "
	       "used by controllers[5].targets[0].luns[0] (line 14); a shared backend must be "
	       "read-only for every user\n");
}

Test(config, backend_sharing_read_only)
{
	/* Every user read-only, or the backend itself read-only: sharing is allowed. */
	struct vhd_config *cfg = load_ok(fmt(
		"backends:\n"
		"  - {name: r, type: null, size: 512}\n"
		"  - {name: a, type: aio, path: %s/disk.img, readonly: true}\n"
		"  - {name: unused, type: malloc, size: 512}\n"
		"controllers:\n"
		"  - {name: c0, type: blk, backend: r, readonly: true}\n"
		"  - {name: c1, type: scsi, targets: [{id: 0, luns: [{lun: 0, backend: r, "
		"readonly: true}]}]}\n"
		"  - {name: c2, type: blk, backend: a}\n"
		"  - {name: c3, type: blk, backend: a}\n", g_tmp));

	cr_assert_eq(cfg->ncontrollers, 4);
	vhd_config_free(cfg);
}

Test(config, all_errors_in_file_order)
{
	/* Found by different passes (cross checks run last) but reported by position. */
	expect("controllers:\n"
	       "  - {name: c0, type: blk, backend: ghost, cpumask: 0x4}\n"
	       "  - {name: c0, type: blk, backend: b, num_queues: 0}\n"
	       "hugemem: lots\n"
	       "backends:\n"
	       "  - {name: b, type: null, size: 12}\n"
	       "bogus: 1\n"
	       "cores: 0-1\n",
	       "t.yaml:2:36: controllers[0].backend: unknown backend 'ghost'\n"
	       "t.yaml:2:52: controllers[0].cpumask: CPU 2 is not in cores (0-1)\n"
	       "t.yaml:3:12: controllers[1].name: duplicate controller name 'c0' (first defined "
	       "at line 2)\n"
	       "t.yaml:3:51: controllers[1].num_queues: 0 is out of range (1..128)\n"
	       "t.yaml:4:10: hugemem: expected an integer, got 'lots'\n"
	       "t.yaml:6:33: backends[0].size: '12' (12 bytes) is not a multiple of block_size "
	       "(512)\n"
	       "t.yaml:7:1: bogus: unknown key\n");
}

Test(config, parse_size)
{
	static const struct {
		const char *in;
		int rc;
		uint64_t bytes;
	} cases[] = {
		{"0", 0, 0},
		{"4096", 0, 4096},
		{"1K", 0, 1024},
		{"1k", 0, 1024},
		{"2KiB", 0, 2048},
		{"2kib", 0, 2048},
		{"64MiB", 0, 64ULL << 20},
		{"64m", 0, 64ULL << 20},
		{"64 MiB", 0, 64ULL << 20},
		{"3G", 0, 3ULL << 30},
		{"3GIB", 0, 3ULL << 30},
		{"2t", 0, 2ULL << 40},
		{"2TiB", 0, 2ULL << 40},
		{"18446744073709551615", 0, UINT64_MAX},
		{"16777215TiB", 0, 16777215ULL << 40},
		{"18446744073709551616", -ERANGE, 0},
		{"16777216TiB", -ERANGE, 0},
		{"17179869184G", -ERANGE, 0},
		{"99999999999999999999999999K", -ERANGE, 0},
		{"", -EINVAL, 0},
		{"K", -EINVAL, 0},
		{"-1", -EINVAL, 0},
		{"+1", -EINVAL, 0},
		{" 1", -EINVAL, 0},
		{"1 ", -EINVAL, 0},
		{"1.5G", -EINVAL, 0},
		{"1GB", -EINVAL, 0},
		{"1Gi", -EINVAL, 0},
		{"1P", -EINVAL, 0},
		{"0x10", -EINVAL, 0},
		{"12abc", -EINVAL, 0},
		{"99999999999999999999999999X", -EINVAL, 0},
	};

	for (size_t i = 0; i < VHD_ARRAY_SIZE(cases); i++) {
		uint64_t bytes = 12345;
		int rc = vhd_parse_size(cases[i].in, &bytes);

		cr_assert_eq(rc, cases[i].rc, "'%s': rc %d, want %d", cases[i].in, rc, cases[i].rc);
		cr_assert_eq(bytes, rc == 0 ? cases[i].bytes : 12345, "'%s': %" PRIu64,
			     cases[i].in, bytes);
	}
}

Test(config, diag_accumulates)
{
	struct vhd_diag d = {0};

	vhd_diag_add(&d, "a: %d", 1);
	vhd_diag_add(&d, "b\n");
	vhd_diag_add(&d, "%s", "");
	cr_assert_str_eq(d.text, "a: 1\nb\n\n");
	cr_assert_eq(d.count, 3);
	cr_assert_eq(d.len, 8);
	vhd_diag_free(&d);
	cr_assert_null(d.text);
	cr_assert_eq(d.count, 0);
}

Test(config, type_names)
{
	cr_assert_str_eq(vhd_backend_type_name(VHD_BACKEND_AIO), "aio");
	cr_assert_str_eq(vhd_backend_type_name(VHD_BACKEND_MALLOC), "malloc");
	cr_assert_str_eq(vhd_backend_type_name(VHD_BACKEND_NULL), "null");
	cr_assert_str_eq(vhd_backend_type_name(VHD_BACKEND_NVME), "nvme");
	cr_assert_str_eq(vhd_backend_type_name((enum vhd_backend_type)9), "unknown");
	cr_assert_str_eq(vhd_ctrlr_type_name(VHD_CTRLR_BLK), "blk");
	cr_assert_str_eq(vhd_ctrlr_type_name(VHD_CTRLR_SCSI), "scsi");
	cr_assert_str_eq(vhd_ctrlr_type_name((enum vhd_ctrlr_type)-1), "unknown");
}

Test(config, load_file_errors)
{
	struct vhd_diag diag = {0};
	struct vhd_config *cfg = (struct vhd_config *)0x1;
	char path[160];

	snprintf(path, sizeof(path), "%s/none.yaml", g_tmp);
	cr_assert_eq(vhd_config_load(path, &cfg, &diag), -ENOENT);
	cr_assert_null(cfg);
	cr_assert_str_eq(diag.text, fmt("%s: No such file or directory\n", path));
	vhd_diag_free(&diag);

	snprintf(path, sizeof(path), "%s/dir", g_tmp);
	cr_assert_eq(vhd_config_load(path, &cfg, &diag), -EISDIR);
	cr_assert_str_eq(diag.text, fmt("%s: Is a directory\n", path));
	vhd_diag_free(&diag);

	/* Diagnostics name the file as given. */
	snprintf(path, sizeof(path), "%s/bad.yaml", g_tmp);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("cores: 0\nhugemem: 1\n", f);
	fclose(f);
	cr_assert_eq(vhd_config_load(path, &cfg, &diag), -EINVAL);
	cr_assert_null(cfg);
	cr_assert_str_eq(diag.text, fmt("%s:2:10: hugemem: 1 is out of range (16..1048576)\n",
					path));
	vhd_diag_free(&diag);
	unlink(path);
}

/* Every config shipped in config/ (except the schema) loads. */
Test(config, shipped_configs_load)
{
	DIR *d = opendir(VHD_SOURCE_ROOT "/config");
	struct dirent *e;
	unsigned int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		struct vhd_diag diag = {0};
		struct vhd_config *cfg = NULL;
		char path[512];
		int rc;

		if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0 ||
		    strcmp(e->d_name, "schema.yaml") == 0) {
			continue;
		}
		snprintf(path, sizeof(path), "%s/config/%s", VHD_SOURCE_ROOT, e->d_name);
		rc = vhd_config_load(path, &cfg, &diag);
		cr_assert_eq(rc, 0, "%s:\n%s", path, diag.text ? diag.text : "");
		cr_assert_geq(cfg->ncontrollers, 1, "%s", path);
		vhd_config_free(cfg);
		n++;
	}
	closedir(d);
	cr_assert_geq(n, 1);
}

/*
 * config/schema.yaml, the key tables the loader enforces and docs/config.md must agree.
 */
struct schema_walk {
	yaml_document_t doc;
	char paths[128][128];
	unsigned int npaths;
};

static yaml_node_t *
schema_get(struct schema_walk *w, yaml_node_t *map, const char *key)
{
	cr_assert_eq(map->type, YAML_MAPPING_NODE);
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(&w->doc, p->key);

		if (strcmp((char *)k->data.scalar.value, key) == 0) {
			return yaml_document_get_node(&w->doc, p->value);
		}
	}
	return NULL;
}

static const char *
schema_str(struct schema_walk *w, yaml_node_t *map, const char *key)
{
	yaml_node_t *n = schema_get(w, map, key);

	if (n == NULL) {
		return NULL;
	}
	cr_assert_eq(n->type, YAML_SCALAR_NODE, "%s is not a scalar", key);
	return (const char *)n->data.scalar.value;
}

/* Names in a YAML list, as a type bit mask over the section's type names. */
static uint32_t
schema_types(struct schema_walk *w, yaml_node_t *list, const struct vhd_config_section *sec,
	     const char *path)
{
	uint32_t bits = 0;

	cr_assert_eq(list->type, YAML_SEQUENCE_NODE, "%s: `for` is not a list", path);
	for (yaml_node_item_t *i = list->data.sequence.items.start;
	     i < list->data.sequence.items.top; i++) {
		const char *name = (char *)yaml_document_get_node(&w->doc, *i)->data.scalar.value;
		unsigned int t;

		for (t = 0; t < sec->ntypes; t++) {
			if (strcmp(sec->type_names[t], name) == 0) {
				break;
			}
		}
		cr_assert_lt(t, sec->ntypes, "%s: unknown type '%s' in `for`", path, name);
		bits |= 1u << t;
	}
	return bits;
}

static void
check_enum_values(struct schema_walk *w, yaml_node_t *values, const struct vhd_config_section *sec,
		  const char *name, const char *path)
{
	unsigned int n = 0;

	cr_assert_not_null(values, "%s: enum without `values`", path);
	for (yaml_node_item_t *i = values->data.sequence.items.start;
	     i < values->data.sequence.items.top; i++, n++) {
		const char *v = (char *)yaml_document_get_node(&w->doc, *i)->data.scalar.value;
		enum vhd_log_level level;

		if (strcmp(name, "type") == 0) {
			cr_assert_lt(n, sec->ntypes, "%s: more values than types", path);
			cr_assert_str_eq(v, sec->type_names[n], "%s", path);
		} else {
			cr_assert_str_eq(path, "log_level", "no check for enum %s", path);
			cr_assert_eq(vhd_log_level_parse(v, &level), 0, "%s: %s", path, v);
			cr_assert_str_eq(vhd_log_level_name(level), v);
		}
	}
	if (strcmp(name, "type") == 0) {
		cr_assert_eq(n, sec->ntypes, "%s: values do not list every type", path);
	}
}

static void
check_section(struct schema_walk *w, yaml_node_t *keys, const struct vhd_config_section *sec,
	      const char *prefix)
{
	unsigned int n = 0;

	cr_assert_not_null(keys, "%s: no keys in schema.yaml", sec->path);
	cr_assert_eq(keys->type, YAML_MAPPING_NODE, "%s", sec->path);
	for (yaml_node_pair_t *p = keys->data.mapping.pairs.start; p < keys->data.mapping.pairs.top;
	     p++, n++) {
		yaml_node_t *key_node = yaml_document_get_node(&w->doc, p->key);
		const char *name = (const char *)key_node->data.scalar.value;
		yaml_node_t *desc = yaml_document_get_node(&w->doc, p->value);
		const struct vhd_config_key *key = NULL;
		const char *req, *range, *d;
		yaml_node_t *list;
		char *path = w->paths[w->npaths++];

		cr_assert_lt(w->npaths, VHD_ARRAY_SIZE(w->paths));
		snprintf(path, sizeof(w->paths[0]), "%s%s%s", prefix, prefix[0] ? "." : "", name);
		for (unsigned int k = 0; k < sec->nkeys; k++) {
			if (strcmp(sec->keys[k].name, name) == 0) {
				key = &sec->keys[k];
			}
		}
		cr_assert_not_null(key, "%s is in schema.yaml but the loader does not know it",
				   path);
		cr_assert_str_eq(schema_str(w, desc, "type"), vhd_config_kind_name(key->kind),
				 "%s: kind", path);
		req = schema_str(w, desc, "required");
		cr_assert_eq(req != NULL && strcmp(req, "true") == 0, key->required, "%s: required",
			     path);
		list = schema_get(w, desc, "for");
		cr_assert_eq(list != NULL ? schema_types(w, list, sec, path) : 0, key->types,
			     "%s: `for` differs from the loader", path);
		range = schema_str(w, desc, "range");
		if (key->kind == VHD_KIND_INTEGER) {
			cr_assert_not_null(range, "%s: integer without range", path);
			cr_assert_str_eq(range, fmt("%" PRId64 "..%" PRId64, key->min, key->max),
					 "%s: range", path);
		} else {
			cr_assert_null(range, "%s: range on a non-integer", path);
		}
		if (key->kind == VHD_KIND_ENUM) {
			check_enum_values(w, schema_get(w, desc, "values"), sec, name, path);
		}
		d = schema_str(w, desc, "description");
		cr_assert(d != NULL && d[0] != '\0', "%s: no description", path);
		if (!key->required && key->kind != VHD_KIND_MAPPING) {
			cr_assert_not_null(schema_get(w, desc, "default"), "%s: no default", path);
		}
		if (key->kind == VHD_KIND_MAPPING) {
			check_section(w, schema_get(w, desc, "keys"), key->child, path);
		} else if (key->kind == VHD_KIND_SEQUENCE && key->child != NULL) {
			char seq[128];

			snprintf(seq, sizeof(seq), "%s[]", path);
			cr_assert_str_eq(key->child->path, seq);
			check_section(w, schema_get(w, desc, "items"), key->child, seq);
		}
	}
	cr_assert_eq(n, sec->nkeys, "%s: the loader knows %u keys, schema.yaml lists %u",
		     sec->path[0] ? sec->path : "top level", sec->nkeys, n);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	rewind(f);
	buf = malloc((size_t)len + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

Test(config, schema_matches_loader_and_docs)
{
	static struct schema_walk w;
	yaml_parser_t parser;
	char *schema = slurp(VHD_SOURCE_ROOT "/config/schema.yaml");
	char *docs = slurp(VHD_SOURCE_ROOT "/docs/config.md");

	cr_assert(yaml_parser_initialize(&parser));
	yaml_parser_set_input_string(&parser, (unsigned char *)schema, strlen(schema));
	cr_assert(yaml_parser_load(&parser, &w.doc), "schema.yaml: %s at line %zu", parser.problem,
		  parser.problem_mark.line + 1);
	check_section(&w, yaml_document_get_root_node(&w.doc), &vhd_config_root_section, "");
	cr_assert_geq(w.npaths, 30);
	for (unsigned int i = 0; i < w.npaths; i++) {
		cr_assert_not_null(strstr(docs, fmt("`%s`", w.paths[i])),
				   "docs/config.md does not document `%s`", w.paths[i]);
	}
	yaml_document_delete(&w.doc);
	yaml_parser_delete(&parser);
	free(schema);
	free(docs);
}

/* The examples in docs/config.md are valid, except that their backing files do not exist here. */
Test(config, docs_examples_load)
{
	char *docs = slurp(VHD_SOURCE_ROOT "/docs/config.md");
	unsigned int examples = 0;
	char *p = docs;

	while ((p = strstr(p, "```yaml\n")) != NULL) {
		char *start = p + 8, *end = strstr(start, "```");
		struct vhd_diag diag = {0};
		struct vhd_config *cfg = NULL;
		int rc;

		cr_assert_not_null(end);
		rc = vhd_config_load_string("example", start, (size_t)(end - start), &cfg, &diag);
		for (char *line = diag.text; line != NULL && *line != '\0';) {
			char *nl = strchr(line, '\n');

			*nl = '\0';
			cr_assert(strstr(line, ".path: '") != NULL &&
				  strstr(line, "': No such file or directory") != NULL,
				  "docs example %u: %s", examples + 1, line);
			line = nl + 1;
		}
		cr_assert(rc == 0 || diag.count > 0);
		vhd_config_free(cfg);
		vhd_diag_free(&diag);
		examples++;
		p = end + 3;
	}
	cr_assert_geq(examples, 2);
	free(docs);
}
