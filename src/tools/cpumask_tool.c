/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cpumask_tool: convert between CPU lists and hex masks with the daemon's own parser, and
 * optionally check the CPUs against this host (online, NUMA node) before they go into a
 * config's `cores` or `cpumask`.
 *
 * sysfs is read from $VHD_SYSFS_ROOT (default /sys) so tests can point it at a fake tree:
 *   <root>/devices/system/cpu/online        the online CPU list
 *   <root>/devices/system/cpu/cpuN/nodeM    a link per CPU naming its NUMA node
 */
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "vhostd/cpumask.h"

#define PROG "cpumask_tool"
/* Worst case "0,2,4,...,1022": 512 numbers of up to 4 digits plus commas. */
#define LIST_MAX 4096
#define HEX_MAX (VHD_CPUMASK_MAX_CPUS / 4 + 3)

enum {
	EXIT_BAD_INPUT = 1,
	EXIT_USAGE = 2,
};

enum {
	OPT_VERSION = 0x100,
};

struct numa_node {
	int id; /* -1: the CPU has no node link (kernel without NUMA) */
	struct vhd_cpumask cpus;
};

static void
usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " [-C] -c LIST\n"
		"       " PROG " [-C] -m MASK\n"
		"Convert a CPU list to a hex mask or back, as vhostd's `cores` and `cpumask` read\n"
		"them, and print both forms and the CPU count.\n"
		"\n"
		"  -c, --cores LIST  a CPU list such as 13-16,50-56\n"
		"  -m, --mask MASK   a hex mask such as 0x1fc00000001e000 (the 0x is optional);\n"
		"                    any width up to %d CPUs\n"
		"  -C, --check       also check that every CPU is online and print the CPUs of\n"
		"                    each NUMA node\n"
		"  -h, --help        show this help\n"
		"      --version     show the version\n"
		"\n"
		"Environment: VHD_SYSFS_ROOT  where sysfs is mounted (default /sys)\n"
		"Exit status: 0 ok, 1 bad input or a CPU is not online, 2 usage error\n",
		VHD_CPUMASK_MAX_CPUS);
}

static int
parse_arg(struct vhd_cpumask *mask, const char *arg, bool is_mask)
{
	char err[160], buf[LIST_MAX + 8];
	const char *s = arg;

	while (*s == ' ' || *s == '\t') {
		s++;
	}
	if (!is_mask && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		fprintf(stderr, PROG ": invalid core list '%s': this is a hex mask, use -m\n", arg);
		return -EINVAL;
	}
	if (is_mask && s[0] != '\0' && !(s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))) {
		/* The shared parser reads a bare number as a list; -m means hex. */
		if (snprintf(buf, sizeof(buf), "0x%s", s) >= (int)sizeof(buf)) {
			fprintf(stderr, PROG ": invalid mask '%.32s...': too long\n", arg);
			return -EINVAL;
		}
		s = buf;
	}
	if (vhd_cpumask_parse(mask, s, err, sizeof(err)) != 0) {
		fprintf(stderr, PROG ": invalid %s '%s': %s\n", is_mask ? "mask" : "core list", arg,
			err);
		return -EINVAL;
	}
	return 0;
}

static const char *
sysfs_root(void)
{
	const char *root = getenv("VHD_SYSFS_ROOT");

	return root != NULL && root[0] != '\0' ? root : "/sys";
}

static int
read_online(struct vhd_cpumask *online)
{
	char path[PATH_MAX], line[LIST_MAX], err[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/devices/system/cpu/online", sysfs_root());
	f = fopen(path, "r");
	if (f == NULL) {
		int rc = -errno;

		fprintf(stderr, PROG ": cannot read %s: %s\n", path, strerror(-rc));
		return rc;
	}
	if (fgets(line, sizeof(line), f) == NULL) {
		line[0] = '\0';
	}
	fclose(f);
	if (vhd_cpumask_parse(online, line, err, sizeof(err)) != 0) {
		fprintf(stderr, PROG ": cannot parse %s: %s\n", path, err);
		return -EINVAL;
	}
	return 0;
}

static bool
cpu_exists(unsigned int cpu)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/devices/system/cpu/cpu%u", sysfs_root(), cpu);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void
report_cpus(const struct vhd_cpumask *cpus, const char *one, const char *many,
	    const struct vhd_cpumask *online)
{
	char list[LIST_MAX], on[LIST_MAX];

	vhd_cpumask_format_list(cpus, list, sizeof(list));
	vhd_cpumask_format_list(online, on, sizeof(on));
	fprintf(stderr, PROG ": %s %s %s (online: %s)\n",
		vhd_cpumask_count(cpus) == 1 ? "CPU" : "CPUs", list,
		vhd_cpumask_count(cpus) == 1 ? one : many, on);
}

/* \return 0 when every CPU of mask is online, -ENODEV otherwise (reported). */
static int
check_online(const struct vhd_cpumask *mask)
{
	struct vhd_cpumask online, missing, offline;
	int rc;

	rc = read_online(&online);
	if (rc != 0) {
		return rc;
	}
	vhd_cpumask_zero(&missing);
	vhd_cpumask_zero(&offline);
	for (int c = vhd_cpumask_next(mask, 0); c >= 0;
	     c = vhd_cpumask_next(mask, (unsigned int)c + 1)) {
		if (vhd_cpumask_test(&online, (unsigned int)c)) {
			continue;
		}
		vhd_cpumask_set(cpu_exists((unsigned int)c) ? &offline : &missing, (unsigned int)c);
	}
	if (!vhd_cpumask_empty(&missing)) {
		report_cpus(&missing, "does not exist on this host", "do not exist on this host",
			    &online);
	}
	if (!vhd_cpumask_empty(&offline)) {
		report_cpus(&offline, "is offline", "are offline", &online);
	}
	return vhd_cpumask_empty(&missing) && vhd_cpumask_empty(&offline) ? 0 : -ENODEV;
}

/* The N of the cpuN/nodeN link, or -1 when there is none. */
static int
cpu_node(unsigned int cpu)
{
	char path[PATH_MAX];
	struct dirent *e;
	int node = -1;
	DIR *d;

	snprintf(path, sizeof(path), "%s/devices/system/cpu/cpu%u", sysfs_root(), cpu);
	d = opendir(path);
	if (d == NULL) {
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		const char *s = e->d_name;
		char *end;
		unsigned long v;

		if (strncmp(s, "node", 4) != 0 || s[4] < '0' || s[4] > '9') {
			continue;
		}
		errno = 0;
		v = strtoul(s + 4, &end, 10);
		if (errno == 0 && *end == '\0' && v <= INT32_MAX) {
			node = (int)v;
			break;
		}
	}
	closedir(d);
	return node;
}

static int
cmp_node(const void *a, const void *b)
{
	const struct numa_node *x = a, *y = b;

	/* Known nodes in order, CPUs without a node last. */
	if ((x->id < 0) != (y->id < 0)) {
		return x->id < 0 ? 1 : -1;
	}
	return (x->id > y->id) - (x->id < y->id);
}

static int
print_nodes(const struct vhd_cpumask *mask)
{
	struct numa_node *nodes = NULL;
	size_t n = 0;
	char list[LIST_MAX];

	for (int c = vhd_cpumask_next(mask, 0); c >= 0;
	     c = vhd_cpumask_next(mask, (unsigned int)c + 1)) {
		int id = cpu_node((unsigned int)c);
		size_t i = 0;

		while (i < n && nodes[i].id != id) {
			i++;
		}
		if (i == n) {
			struct numa_node *grown = realloc(nodes, (n + 1) * sizeof(*nodes));

			if (grown == NULL) {
				free(nodes);
				fprintf(stderr, PROG ": out of memory\n");
				return -ENOMEM;
			}
			nodes = grown;
			nodes[n].id = id;
			vhd_cpumask_zero(&nodes[n].cpus);
			n++;
		}
		vhd_cpumask_set(&nodes[i].cpus, (unsigned int)c);
	}
	if (n > 1) {
		qsort(nodes, n, sizeof(*nodes), cmp_node);
	}
	for (size_t i = 0; i < n; i++) {
		vhd_cpumask_format_list(&nodes[i].cpus, list, sizeof(list));
		if (nodes[i].id >= 0) {
			printf("NUMA node %d: %s\n", nodes[i].id, list);
		} else {
			printf("NUMA node unknown: %s\n", list);
		}
	}
	free(nodes);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"cores", required_argument, NULL, 'c'},
		{"mask", required_argument, NULL, 'm'},
		{"check", no_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	const char *arg = NULL;
	bool is_mask = false, check = false;
	struct vhd_cpumask mask;
	char hex[HEX_MAX], list[LIST_MAX];
	int opt;

	while ((opt = getopt_long(argc, argv, "c:m:Ch", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
		case 'm':
			if (arg != NULL) {
				fprintf(stderr, PROG ": give only one of -c and -m\n");
				return EXIT_USAGE;
			}
			arg = optarg;
			is_mask = opt == 'm';
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf(PROG " (vhostd) " VHD_VERSION "\n");
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (arg == NULL) {
		fprintf(stderr, PROG ": give -c LIST or -m MASK\n");
		usage(stderr);
		return EXIT_USAGE;
	}

	if (parse_arg(&mask, arg, is_mask) != 0) {
		return EXIT_BAD_INPUT;
	}
	if (check && check_online(&mask) != 0) {
		return EXIT_BAD_INPUT;
	}
	/* Both buffers fit the widest mask, so formatting cannot fail. */
	vhd_cpumask_format_hex(&mask, hex, sizeof(hex));
	vhd_cpumask_format_list(&mask, list, sizeof(list));
	printf("Hex mask:   %s\n", hex);
	printf("Core list:  %s\n", list);
	printf("Core count: %u\n", vhd_cpumask_count(&mask));
	if (check && print_nodes(&mask) != 0) {
		return EXIT_BAD_INPUT;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": cannot write output: %s\n", strerror(errno));
		return EXIT_BAD_INPUT;
	}
	return 0;
}
