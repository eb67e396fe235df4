#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(int argc,char**argv){
  size_t SZ=1UL<<30; int p[2]; pipe(p);
  char *src=mmap(NULL,SZ,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
  for(size_t i=0;i<SZ;i+=4096) src[i]=i>>12;
  pid_t c=fork(); if(!c){ write(p[1],"x",1); pause(); _exit(0);} char x; read(p[0],&x,1);
  size_t B=8<<20; char *buf=malloc(B); memset(buf,0,B);
  for(int rep=0;rep<3;rep++){
    // A: readv into reused buffer, write
    unlink("/dev/shm/a.img"); int fd=open("/dev/shm/a.img",O_CREAT|O_WRONLY|O_TRUNC,0644);
    double t=now(), tr=0,tw=0;
    for(size_t o=0;o<SZ;o+=B){ struct iovec l={buf,B}, r={src+o,B}; double a=now(); process_vm_readv(c,&l,1,&r,1,0); double b=now(); write(fd,buf,B); tw+=now()-b; tr+=b-a;}
    close(fd); double A=now()-t;
    // B: fallocate + mmap populate + readv into mapping
    unlink("/dev/shm/b.img"); fd=open("/dev/shm/b.img",O_CREAT|O_RDWR|O_TRUNC,0644);
    t=now(); fallocate(fd,0,0,SZ); double fa=now()-t; char*m=mmap(NULL,SZ,PROT_READ|PROT_WRITE,MAP_SHARED|MAP_POPULATE,fd,0); double mp=now()-t;
    for(size_t o=0;o<SZ;o+=B){ struct iovec l={m+o,B}, r={src+o,B}; process_vm_readv(c,&l,1,&r,1,0);} munmap(m,SZ); close(fd); double Bt=now()-t;
    // restore: C1 read into buffer + writev ; C2 mmap file + writev
    char *dst=mmap(NULL,SZ,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0); // target stand-in: own process via pid self
    fd=open("/dev/shm/a.img",O_RDONLY); t=now();
    for(size_t o=0;o<SZ;o+=B){ pread(fd,buf,B,o); struct iovec l={buf,B}, r={dst+o,B}; process_vm_writev(getpid(),&l,1,&r,1,0);} double C1=now()-t; close(fd);
    munmap(dst,SZ); dst=mmap(NULL,SZ,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
    fd=open("/dev/shm/a.img",O_RDONLY); t=now(); m=mmap(NULL,SZ,PROT_READ,MAP_SHARED|MAP_POPULATE,fd,0);
    for(size_t o=0;o<SZ;o+=B){ struct iovec l={m+o,B}, r={dst+o,B}; process_vm_writev(getpid(),&l,1,&r,1,0);} double C2=now()-t; munmap(m,SZ); close(fd); munmap(dst,SZ);
    // dd-like write of zeros, readv alone
    fd=open("/dev/shm/d.img",O_CREAT|O_WRONLY|O_TRUNC,0644); t=now(); for(size_t o=0;o<SZ;o+=1<<20) write(fd,buf,1<<20); close(fd); double D=now()-t; unlink("/dev/shm/d.img");
    printf("A readv+write %.3fs (readv %.3f write %.3f) | B falloc %.3f +mmap %.3f total %.3fs | restore pread+writev %.3fs mmap+writev %.3fs | dd %.3fs\n",A,tr,tw,fa,mp,Bt,C1,C2,D);
  }
  kill(c,9); unlink("/dev/shm/a.img"); unlink("/dev/shm/b.img");
}
