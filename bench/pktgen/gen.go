package pktgen

//go:generate go tool bpf2go -tags linux -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel,bpfeb -type gen_config -type gen_state gen bpf/gen.c -- -I./bpf
//go:generate go tool bpf2go -tags linux -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel,bpfeb -type counter -type lat_summary -type settings sink bpf/sink.c -- -I./bpf
//go:generate go tool bpf2go -tags linux -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel,bpfeb reflect bpf/reflect.c -- -I./bpf
