/*
 * rayfleet's SIMULATED NVML, for lab hosts and tests only: no GPU is behind it.
 *
 * Built as libnvidia-ml.so.1, it answers the NVML calls that nvidia-ml-py (rayfleet's
 * gpu_facts module and rayfleet-gpu-metrics) and Ray's own GPU detection make, with the
 * GPUs a config file describes, so that both see the same simulated GPUs.
 *
 * Config: $RAYFLEET_SIMULATED_NVML, else /etc/rayfleet/simulated-gpus.conf; key=value lines:
 *   state=ok|no_driver      gpus=4                    model=NVIDIA H100 80GB HBM3
 *   memory_mib=81559        driver_version=580.159.04 cuda_version=13000
 *   mig_gpu=0               mig_profiles=3g.40gb,3g.40gb
 *   uncorrected_ecc_gpu=1   lost_gpu=2                hot_gpu=3
 * No file means no driver. UUIDs derive from the host name, so two hosts differ.
 *
 * Copyright: rayfleet contributors. Apache License 2.0 (see LICENSE).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SUCCESS 0
#define ERROR_UNINITIALIZED 1
#define ERROR_INVALID_ARGUMENT 2
#define ERROR_NOT_SUPPORTED 3
#define ERROR_NOT_FOUND 6
#define ERROR_INSUFFICIENT_SIZE 7
#define ERROR_DRIVER_NOT_LOADED 9
#define ERROR_GPU_IS_LOST 15
#define MAX_GPUS 16
#define MAX_MIG 7
#define NONE (-1)

typedef struct device {
    int gpu;  /* the GPU's index */
    int mig;  /* the MIG slot, NONE for the GPU itself */
} device;

typedef struct memory { unsigned long long total, free, used; } memory;
typedef struct utilization { unsigned int gpu, memory; } utilization;
typedef struct pci_info {
    char bus_id_legacy[16];
    unsigned int domain, bus, device, pci_device_id, pci_subsystem_id;
    char bus_id[32];
} pci_info;

static struct {
    int loaded, initialized, gpus, memory_mib, cuda_version, mig_gpu, lost_gpu, hot_gpu;
    int uncorrected_ecc_gpu, mig_count;
    char model[96], driver_version[80], mig_profiles[MAX_MIG][16];
    unsigned int host;
} sim;
static device devices[MAX_GPUS * (MAX_MIG + 1)];

static void load(void) {
    const char *path = getenv("RAYFLEET_SIMULATED_NVML");
    char line[256], name[64];
    FILE *file = fopen(path ? path : "/etc/rayfleet/simulated-gpus.conf", "r");
    sim.loaded = 1;
    sim.gpus = 0;
    sim.mig_gpu = sim.lost_gpu = sim.hot_gpu = sim.uncorrected_ecc_gpu = NONE;
    sim.memory_mib = 81559;
    sim.cuda_version = 13000;
    strcpy(sim.model, "NVIDIA H100 80GB HBM3");
    strcpy(sim.driver_version, "580.159.04");
    gethostname(name, sizeof name);
    for (const char *c = name; *c; c++) sim.host = sim.host * 31 + (unsigned char)*c;
    if (!file) return;
    sim.gpus = 1;
    while (fgets(line, sizeof line, file)) {
        char *value = strchr(line, '=');
        if (line[0] == '#' || !value) continue;
        *value++ = '\0';
        value[strcspn(value, "\r\n")] = '\0';
        if (!strcmp(line, "state") && !strcmp(value, "no_driver")) sim.gpus = NONE;
        else if (!strcmp(line, "gpus")) sim.gpus = atoi(value) > MAX_GPUS ? MAX_GPUS : atoi(value);
        else if (!strcmp(line, "model")) snprintf(sim.model, sizeof sim.model, "%s", value);
        else if (!strcmp(line, "memory_mib")) sim.memory_mib = atoi(value);
        else if (!strcmp(line, "driver_version"))
            snprintf(sim.driver_version, sizeof sim.driver_version, "%s", value);
        else if (!strcmp(line, "cuda_version")) sim.cuda_version = atoi(value);
        else if (!strcmp(line, "mig_gpu")) sim.mig_gpu = atoi(value);
        else if (!strcmp(line, "lost_gpu")) sim.lost_gpu = atoi(value);
        else if (!strcmp(line, "hot_gpu")) sim.hot_gpu = atoi(value);
        else if (!strcmp(line, "uncorrected_ecc_gpu")) sim.uncorrected_ecc_gpu = atoi(value);
        else if (!strcmp(line, "mig_profiles")) {
            for (char *profile = strtok(value, ","); profile && sim.mig_count < MAX_MIG;
                 profile = strtok(NULL, ","))
                snprintf(sim.mig_profiles[sim.mig_count++], 16, "%s", profile);
        }
    }
    fclose(file);
    for (int gpu = 0; gpu < MAX_GPUS; gpu++)
        for (int slot = 0; slot <= MAX_MIG; slot++)
            devices[gpu * (MAX_MIG + 1) + slot] = (device){gpu, slot == 0 ? NONE : slot - 1};
}

static int ready(void) {
    if (!sim.initialized) return ERROR_UNINITIALIZED;
    return SUCCESS;
}

static device *as_device(void *handle) { return (device *)handle; }

static int copy(char *buffer, unsigned int length, const char *text) {
    if (strlen(text) + 1 > length) return ERROR_INSUFFICIENT_SIZE;
    strcpy(buffer, text);
    return SUCCESS;
}

static int answering(device *d) { return d->gpu == sim.lost_gpu ? ERROR_GPU_IS_LOST : SUCCESS; }

static unsigned long long mig_bytes(int slot) {
    const char *gb = strchr(sim.mig_profiles[slot], '.');
    return (unsigned long long)(gb ? atoi(gb + 1) : 0) << 30;
}

int nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    if (!sim.loaded) load();
    if (sim.gpus == NONE || sim.gpus == 0) return ERROR_DRIVER_NOT_LOADED;
    sim.initialized++;
    return SUCCESS;
}
int nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
int nvmlInit(void) { return nvmlInitWithFlags(0); }
int nvmlShutdown(void) {
    if (sim.initialized) sim.initialized--;
    return SUCCESS;
}

const char *nvmlErrorString(int result) {
    switch (result) {
    case SUCCESS: return "Success";
    case ERROR_UNINITIALIZED: return "Uninitialized";
    case ERROR_NOT_SUPPORTED: return "Not Supported";
    case ERROR_NOT_FOUND: return "Not Found";
    case ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case ERROR_GPU_IS_LOST: return "GPU is lost";
    default: return "Unknown Error (simulated NVML)";
    }
}

int nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    int status = ready();
    return status ? status : copy(version, length, sim.driver_version);
}
int nvmlSystemGetCudaDriverVersion_v2(int *version) {
    *version = sim.cuda_version;
    return ready();
}
int nvmlSystemGetCudaDriverVersion(int *version) { return nvmlSystemGetCudaDriverVersion_v2(version); }

int nvmlDeviceGetCount_v2(unsigned int *count) {
    *count = (unsigned int)sim.gpus;
    return ready();
}
int nvmlDeviceGetCount(unsigned int *count) { return nvmlDeviceGetCount_v2(count); }

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **handle) {
    if (ready()) return ready();
    if (index >= (unsigned int)sim.gpus) return ERROR_INVALID_ARGUMENT;
    *handle = &devices[index * (MAX_MIG + 1)];
    /* As a real GPU that fell off the bus: NVML still counts it, but hands out no handle. */
    return (int)index == sim.lost_gpu ? ERROR_GPU_IS_LOST : SUCCESS;
}
int nvmlDeviceGetHandleByIndex(unsigned int index, void **handle) {
    return nvmlDeviceGetHandleByIndex_v2(index, handle);
}

int nvmlDeviceGetName(void *handle, char *name, unsigned int length) {
    char text[128];
    device *d = as_device(handle);
    if (d->mig == NONE) return copy(name, length, sim.model);
    snprintf(text, sizeof text, "%s MIG %s", sim.model, sim.mig_profiles[d->mig]);
    return copy(name, length, text);
}

int nvmlDeviceGetUUID(void *handle, char *uuid, unsigned int length) {
    char text[96];
    device *d = as_device(handle);
    snprintf(text, sizeof text, "%s-%08x-5a1e-4000-8000-%04x%08x", d->mig == NONE ? "GPU" : "MIG",
             sim.host, d->gpu, d->mig == NONE ? 0xffffffffu : (unsigned int)d->mig);
    return copy(uuid, length, text);
}

int nvmlDeviceGetMemoryInfo(void *handle, memory *info) {
    device *d = as_device(handle);
    int lost = answering(d);
    if (lost) return lost;
    info->total = d->mig == NONE ? (unsigned long long)sim.memory_mib << 20 : mig_bytes(d->mig);
    info->used = 0;
    info->free = info->total;
    return SUCCESS;
}

int nvmlDeviceGetPciInfo_v3(void *handle, pci_info *info) {
    device *d = as_device(handle);
    memset(info, 0, sizeof *info);
    info->bus = 0x18 + (unsigned int)d->gpu;
    snprintf(info->bus_id, sizeof info->bus_id, "00000000:%02X:00.0", info->bus);
    snprintf(info->bus_id_legacy, sizeof info->bus_id_legacy, "0000:%02X:00.0", info->bus);
    return SUCCESS;
}

int nvmlDeviceGetMigMode(void *handle, unsigned int *current, unsigned int *pending) {
    *current = *pending = as_device(handle)->gpu == sim.mig_gpu ? 1 : 0;
    return SUCCESS;
}

int nvmlDeviceGetMaxMigDeviceCount(void *handle, unsigned int *count) {
    *count = as_device(handle)->gpu == sim.mig_gpu ? MAX_MIG : 0;
    return SUCCESS;
}

int nvmlDeviceGetMigDeviceHandleByIndex(void *handle, unsigned int index, void **mig) {
    device *d = as_device(handle);
    if (d->gpu != sim.mig_gpu || index >= (unsigned int)sim.mig_count) return ERROR_NOT_FOUND;
    *mig = &devices[d->gpu * (MAX_MIG + 1) + 1 + (int)index];
    return SUCCESS;
}

int nvmlDeviceGetEccMode(void *handle, int *current, int *pending) {
    (void)handle;
    *current = *pending = 1;
    return SUCCESS;
}

int nvmlDeviceGetTotalEccErrors(void *handle, int type, int counter, unsigned long long *count) {
    device *d = as_device(handle);
    (void)counter;
    *count = (type == 1 && d->gpu == sim.uncorrected_ecc_gpu) ? 1 : 0;
    return answering(d);
}

int nvmlDeviceGetUtilizationRates(void *handle, utilization *rates) {
    rates->gpu = rates->memory = 0;
    return answering(as_device(handle));
}

int nvmlDeviceGetTemperature(void *handle, int sensor, unsigned int *celsius) {
    device *d = as_device(handle);
    (void)sensor;
    *celsius = d->gpu == sim.hot_gpu ? 95 : 38;
    return answering(d);
}

int nvmlDeviceGetPowerUsage(void *handle, unsigned int *milliwatts) {
    *milliwatts = 70000;
    return answering(as_device(handle));
}

int nvmlDeviceGetCurrentClocksEventReasons(void *handle, unsigned long long *reasons) {
    device *d = as_device(handle);
    /* A hot GPU is held down for heat, as a real one would be. */
    *reasons = d->gpu == sim.hot_gpu ? 0x40 : 0;
    return answering(d);
}

/* No XID events: rayfleet-gpu-metrics then only sleeps between writes. */
int nvmlEventSetCreate(void **set) {
    (void)set;
    return ERROR_NOT_SUPPORTED;
}
