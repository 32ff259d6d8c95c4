package xsk

//go:generate go tool bpf2go -tags linux -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel,bpfeb -type ep_key -type addr_key -type flow_key -type fast_key4 -type fast_rec -type fast_stat steer bpf/steer.c -- -I./bpf
