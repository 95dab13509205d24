<h1>{{msg}}</h1><a href="{{url}}">go</a>
